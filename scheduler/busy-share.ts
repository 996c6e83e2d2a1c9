/**
 * @module The share of a host's thread each priority has used lately: run time (and the gap
 * around each run) attributed to the priorities of the requests served, in a sum that decays
 * with a time constant, so a steady use of r ms per ms settles at r x window.
 *
 * Why: under strict priority a request waits for the work queued ahead of it and also for every
 * more important request that arrives meanwhile. If those take a share p of the thread, W ms of
 * work ahead take W / (1 - p) ms to clear (the busy-period result). Admission that counts only
 * the queue admits standard work at 4x overload that premium arrivals then push past its
 * deadline: a 504 after the whole wait instead of a 503 at once.
 */

/** Above this share the wait of less important work is treated as this share's (10x the queue). */
export const MAX_SHARE_AHEAD = 0.9;

export class BusyShare {
  readonly #windowMs: number;
  /** Priority -> decayed ms of thread time used. */
  readonly #used = new Map<number, number>();
  #at: number | undefined;

  constructor(windowMs = 2_000) {
    this.#windowMs = windowMs;
  }

  /** Counts `ms` of thread time used at `now` by requests of `priority`. */
  add(priority: number, ms: number, now: number): void {
    if (!(ms > 0)) return;
    this.#decay(now);
    this.#used.set(priority, (this.#used.get(priority) ?? 0) + ms);
  }

  /** Share of the thread (0..1) lately used by priorities more important than `priority` (lower numbers). */
  above(priority: number, now: number): number {
    this.#decay(now);
    let used = 0;
    for (const [p, ms] of this.#used) if (p < priority) used += ms;
    return Math.min(1, used / this.#windowMs);
  }

  /** How much longer than its queue a request of `priority` is expected to wait: 1 / (1 - share above it), capped. */
  stretch(priority: number, now: number): number {
    return 1 / (1 - Math.min(this.above(priority, now), MAX_SHARE_AHEAD));
  }

  #decay(now: number): void {
    if (this.#at !== undefined && now > this.#at) {
      const factor = Math.exp(-(now - this.#at) / this.#windowMs);
      for (const [p, ms] of this.#used) this.#used.set(p, ms * factor);
    }
    this.#at = Math.max(now, this.#at ?? now);
  }
}
