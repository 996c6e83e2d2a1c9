/**
 * @module Releasing a ModelHost's sessions that nothing has used for a while (HOST_SESSION_IDLE_MS):
 * the old version after a default-version swap, a version a tenant tried once. The budget alone
 * would keep them until a load needs the room, and they hold wasm memory every other load and
 * run on the host could use.
 *
 * The sweep runs from the Durable Object's alarm, not a timer: an alarm is kept by the runtime
 * and wakes the object, where a setTimeout would not outlive it. One alarm at a time, set when
 * the first session is used and moved on by each sweep to the next session that could be due,
 * so the hot path writes no storage while an alarm is pending.
 */
import type { SessionCache } from "./session-cache.ts";

export class IdleSweep {
  readonly #storage: DurableObjectStorage;
  readonly #sessions: SessionCache;
  readonly #idleMs: number;
  readonly #now: () => number;
  /** Whether this instance has an alarm set (a fresh instance sets its own, replacing any left over). */
  #armed = false;

  constructor(storage: DurableObjectStorage, sessions: SessionCache, idleMs: number, now: () => number = Date.now) {
    this.#storage = storage;
    this.#sessions = sessions;
    this.#idleMs = idleMs;
    this.#now = now;
  }

  /** After a session was used: makes sure an alarm will look at it. */
  arm(): void {
    if (this.#armed) return;
    this.#armed = true;
    // Not awaited: the caller's answer need not wait for it (the output gate holds it until the write is safe anyway).
    this.#storage.setAlarm(this.#now() + this.#idleMs).catch((error: unknown) => {
      this.#armed = false; // the next use tries again
      console.error("setting the idle-session alarm failed", error);
    });
  }

  /** The alarm: releases sessions unused for the idle time and sets the next alarm while any are held. */
  async sweep(): Promise<string[]> {
    const released = this.#sessions.releaseUnusedSince(this.#now() - this.#idleMs);
    const next = this.#sessions.nextIdleAt(this.#idleMs);
    this.#armed = next !== undefined;
    if (next !== undefined) await this.#storage.setAlarm(next);
    return released;
  }
}
