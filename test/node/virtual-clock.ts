/**
 * @module Virtual time for tests of code that reads Date.now and sets timers (the Scheduler and
 * the fake models it runs). For one test it stands in for Date.now, setTimeout and setInterval
 * (restored after the test); time moves only when the test moves it, timers fire in due order
 * with Node's rules (a delay under 1 ms is 1 ms) and promise callbacks run between them, as they
 * do between real timer callbacks. Every wait and deadline is then exact, whatever else the
 * machine is doing.
 */
import type { TestContext } from "node:test";

export interface Tracked<T> {
  state: "pending" | "fulfilled" | "rejected";
  value: T | undefined;
  error: unknown;
  /** Virtual time at which the promise settled. */
  at: number | undefined;
}

interface Timer {
  id: number;
  dueAt: number;
  callback: () => void;
  /** Set for setInterval: the period it re-arms with. */
  everyMs: number | undefined;
}

/** Virtual milliseconds `advanceUntil` moves at most: far past any wait these tests make. */
const DEFAULT_LIMIT_MS = 60_000;
/** Node's largest delay; larger ones (and non-numbers, and those under 1) become 1 ms. */
const TIMEOUT_MAX = 2 ** 31 - 1;

export class VirtualClock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<number, Timer>();

  constructor(context: TestContext, startMs = 1_700_000_000_000) {
    this.#now = startMs;
    const schedule =
      (everyMs: boolean) =>
      (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) =>
        this.#schedule(() => callback(...args), ms, everyMs);
    const clear = (handle: unknown) => {
      if (handle instanceof VirtualTimerHandle) this.#timers.delete(handle.id);
    };
    context.mock.method(Date, "now", () => this.#now);
    context.mock.method(globalThis, "setTimeout", schedule(false) as never);
    context.mock.method(globalThis, "setInterval", schedule(true) as never);
    context.mock.method(globalThis, "clearTimeout", clear as never);
    context.mock.method(globalThis, "clearInterval", clear as never);
  }

  now(): number {
    return this.#now;
  }

  /** Runs every promise callback that is ready, without moving the clock. */
  async flush(): Promise<void> {
    // setImmediate is left real: it runs after the microtask queue has drained.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Moves the clock `ms` forward, firing the timers that fall due on the way. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    await this.flush();
    for (let timer = this.#next(); timer && timer.dueAt <= until; timer = this.#next()) await this.#fire(timer);
    this.#now = Math.max(this.#now, until);
    await this.flush();
  }

  /** Moves the clock, timer by timer, until every one of `tracked` has settled; throws past `limitMs`. */
  async advanceUntil(tracked: readonly Tracked<unknown>[], limitMs = DEFAULT_LIMIT_MS): Promise<void> {
    const limit = this.#now + limitMs;
    await this.flush();
    while (tracked.some((t) => t.state === "pending")) {
      const timer = this.#next();
      if (!timer) throw new Error("still pending, and no timer is left to fire");
      if (timer.dueAt > limit) throw new Error(`still pending after ${limitMs} virtual ms`);
      await this.#fire(timer);
    }
  }

  /**
   * The thread is taken for `ms` by work outside the code under test (another request's
   * handling): the clock jumps, and timers that fell due meanwhile fire late.
   */
  block(ms: number): void {
    this.#now += ms;
  }

  /** Watches `promise`, recording how it settled and at what virtual time. */
  track<T>(promise: Promise<T>): Tracked<T> {
    const tracked: Tracked<T> = { state: "pending", value: undefined, error: undefined, at: undefined };
    promise.then(
      (value) => Object.assign(tracked, { state: "fulfilled", value, at: this.#now }),
      (error: unknown) => Object.assign(tracked, { state: "rejected", error, at: this.#now }),
    );
    return tracked;
  }

  #schedule(callback: () => void, ms: number | undefined, repeat: boolean): VirtualTimerHandle {
    const delay = typeof ms === "number" && ms >= 1 && ms <= TIMEOUT_MAX ? ms : 1;
    const id = this.#nextId++;
    this.#timers.set(id, { id, dueAt: this.#now + delay, callback, everyMs: repeat ? delay : undefined });
    return new VirtualTimerHandle(id);
  }

  /** The timer due first; among equals, the one set first. */
  #next(): Timer | undefined {
    let first: Timer | undefined;
    for (const timer of this.#timers.values()) if (!first || timer.dueAt < first.dueAt) first = timer;
    return first;
  }

  async #fire(timer: Timer): Promise<void> {
    this.#now = Math.max(this.#now, timer.dueAt);
    if (timer.everyMs === undefined) this.#timers.delete(timer.id);
    else timer.dueAt = this.#now + timer.everyMs;
    timer.callback();
    await this.flush();
  }
}

/** What the virtual setTimeout and setInterval return; clearTimeout ignores anything else. */
class VirtualTimerHandle {
  readonly id: number;
  constructor(id: number) {
    this.id = id;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return true;
  }
}
