/**
 * @module A circuit breaker per origin: after a run of failures it opens and the origin gets no
 * traffic; after a cool-down one request is let through as a probe (half-open); its success
 * closes the breaker, its failure opens it again for a longer cool-down (doubling, capped).
 */

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  failuresToOpen: number;
  coolDownMs: number;
  maxCoolDownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { failuresToOpen: 3, coolDownMs: 2_000, maxCoolDownMs: 30_000 };

export class CircuitBreaker {
  readonly #options: BreakerOptions;
  #failures = 0;
  #openedAt = 0;
  #coolDownMs: number;
  #state: BreakerState = "closed";
  #probing = false;

  constructor(options: BreakerOptions = DEFAULT_BREAKER) {
    this.#options = options;
    this.#coolDownMs = options.coolDownMs;
  }

  state(now = Date.now()): BreakerState {
    if (this.#state === "open" && now - this.#openedAt >= this.#coolDownMs) this.#state = "half-open";
    return this.#state;
  }

  /** Whether a request may go to this origin now; in half-open, only one probe at a time. */
  allow(now = Date.now()): boolean {
    const state = this.state(now);
    if (state === "closed") return true;
    if (state === "half-open" && !this.#probing) {
      this.#probing = true;
      return true;
    }
    return false;
  }

  succeeded(): void {
    this.#failures = 0;
    this.#probing = false;
    this.#state = "closed";
    this.#coolDownMs = this.#options.coolDownMs;
  }

  /**
   * The origin answered but did not serve (busy, still loading, deadline): no verdict on its
   * health. A probe in flight ends, so the next request may probe again; without this a half-open
   * breaker whose probe got a 503 would wait for a verdict forever and never let traffic through.
   */
  released(): void {
    this.#probing = false;
  }

  failed(now = Date.now()): void {
    this.#failures += 1;
    const wasProbe = this.#probing;
    this.#probing = false;
    if (wasProbe || this.#state === "half-open") {
      this.#coolDownMs = Math.min(this.#options.maxCoolDownMs, this.#coolDownMs * 2);
      this.#open(now);
    } else if (this.#failures >= this.#options.failuresToOpen) {
      this.#open(now);
    }
  }

  /** Milliseconds until the next probe may go (for Retry-After); 0 when closed. */
  retryInMs(now = Date.now()): number {
    return this.state(now) === "open" ? this.#coolDownMs - (now - this.#openedAt) : 0;
  }

  #open(now: number): void {
    this.#state = "open";
    this.#openedAt = now;
  }
}
