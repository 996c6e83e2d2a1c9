/**
 * @module Warm model sessions of one ModelHost, keyed by model@version#sha256 (the caller's key).
 * A session is created once even when many calls arrive before it is ready (they share one
 * promise); a failed load is forgotten so the next call retries. Sessions idle longest are
 * released when the model bytes held exceed the budget, because the ORT wasm heap never
 * shrinks and the isolate has 128 MB in all.
 */
import type { ModelSession } from "../../protocol/model-session.ts";
import { InFlight } from "../../scheduler/in-flight.ts";

export interface CachedSessionInfo {
  key: string;
  bytes: number;
  inFlight: number;
  lastUsed: number;
  ready: boolean;
}

interface Entry {
  key: string;
  bytes: number;
  session: Promise<ModelSession>;
  ready: boolean;
  requests: InFlight;
  lastUsed: number;
}

export class SessionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #budgetBytes: number;
  readonly #now: () => number;

  constructor(budgetBytes: number, now: () => number = Date.now) {
    this.#budgetBytes = budgetBytes;
    this.#now = now;
  }

  /**
   * Runs `use` with the session for `key`, loading it with `load` first if needed.
   * @example await cache.with("mlp@1", 4096, () => loadFromR2(), (s) => s.run(inputs, names))
   */
  async with<T>(key: string, bytes: number, load: () => Promise<ModelSession>, use: (session: ModelSession) => Promise<T>): Promise<T> {
    const entry = this.#entries.get(key) ?? this.#startLoad(key, bytes, load);
    entry.lastUsed = this.#now();
    try {
      return await entry.requests.track(async () => use(await entry.session));
    } finally {
      entry.lastUsed = this.#now();
    }
  }

  has(key: string): boolean {
    return this.#entries.get(key)?.ready ?? false;
  }

  /** Releases the session for `key` once nothing runs on it; returns whether one was held. */
  async drop(key: string): Promise<boolean> {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    await this.#releaseWhenIdle(entry);
    return true;
  }

  info(): CachedSessionInfo[] {
    return [...this.#entries.values()].map(({ key, bytes, requests, lastUsed, ready }) => ({ key, bytes, inFlight: requests.count, lastUsed, ready }));
  }

  heldBytes(): number {
    let total = 0;
    for (const entry of this.#entries.values()) total += entry.bytes;
    return total;
  }

  #startLoad(key: string, bytes: number, load: () => Promise<ModelSession>): Entry {
    const entry: Entry = { key, bytes, session: load(), ready: false, requests: new InFlight(), lastUsed: this.#now() };
    this.#entries.set(key, entry);
    entry.session.then(
      () => {
        entry.ready = true;
        this.#evictOverBudget(key);
      },
      () => {
        // Forget a failed load, unless a newer attempt already replaced it.
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return entry;
  }

  #evictOverBudget(keep: string): void {
    const idle = [...this.#entries.values()]
      .filter((entry) => entry.key !== keep && entry.ready && entry.requests.count === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of idle) {
      if (this.heldBytes() <= this.#budgetBytes) return;
      this.#entries.delete(entry.key);
      void this.#releaseWhenIdle(entry);
    }
  }

  async #releaseWhenIdle(entry: Entry): Promise<void> {
    const session = await entry.session.catch(() => undefined);
    await entry.requests.idle();
    await session?.release();
  }
}
