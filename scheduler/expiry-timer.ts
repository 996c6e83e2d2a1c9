/**
 * @module One timer for the deadlines of every queued call, instead of one timer each: it is set
 * for the earliest deadline, and when it fires it answers whatever has expired and sets itself for
 * the next. Arming and clearing a timer per request was a visible share of a host's CPU per
 * request at saturation (CPU profile), and most of those timers were cleared unfired. A call
 * that leaves the queue early leaves the timer set: it fires for nothing and moves on.
 */

interface Expiring {
  call: { deadline: number };
}

export class ExpiryTimer<T extends Expiring> {
  readonly #queued: () => Iterable<T>;
  readonly #expire: (expired: T[]) => void;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #at = Number.POSITIVE_INFINITY;

  /** `queued` lists the calls waiting now; `expire` answers those whose deadline has passed. */
  constructor(queued: () => Iterable<T>, expire: (expired: T[]) => void, now: () => number) {
    this.#queued = queued;
    this.#expire = expire;
    this.#now = now;
  }

  /** A call with this deadline was queued. */
  watch(deadline: number): void {
    if (deadline < this.#at) this.#arm(deadline);
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#at = at;
    this.#timer = at === Number.POSITIVE_INFINITY ? undefined : setTimeout(() => this.#fire(), Math.max(0, at - this.#now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#at = Number.POSITIVE_INFINITY;
    const now = this.#now();
    const expired: T[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const item of this.#queued()) {
      if (item.call.deadline <= now) expired.push(item);
      else next = Math.min(next, item.call.deadline);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
    if (expired.length > 0) this.#expire(expired);
  }
}
