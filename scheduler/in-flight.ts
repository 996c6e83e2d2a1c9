/**
 * @module A count of the work running on something (a warm session, a served model version) with
 * a promise for the moment it drops to zero: what releasing a session waits for, without polling.
 * Shared by the ModelHost's session cache and the origin's model store.
 */
export class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  get count(): number {
    return this.#count;
  }

  /** Counts `work` while it runs. @example await requests.track(() => session.run(inputs, names)) */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.#count += 1;
    try {
      return await work();
    } finally {
      this.#count -= 1;
      if (this.#count === 0) for (const wake of this.#waiters.splice(0)) wake();
    }
  }

  /** Resolves once nothing runs (at once when nothing does). */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/** Resolves once every one of `counts` is idle, or after `timeoutMs` whatever they do. */
export async function allIdleWithin(counts: readonly InFlight[], timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([Promise.all(counts.map((count) => count.idle())), timeout]);
  clearTimeout(timer);
}
