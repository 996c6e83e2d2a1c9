/**
 * @module Tenants whose request broke a merged run: its batch failed, then it failed again alone
 * (an input onnxruntime refuses that the checks before could not see, such as an index out of a
 * vocabulary). For a while their requests run alone, never merged with others, so a tenant that
 * sends such inputs again and again fails only its own requests instead of making every batch it
 * joins fail and run again request by request.
 */

/** How long a tenant's requests run alone after one broke a batch. */
export const QUARANTINE_MS = 60_000;
/** Tenants remembered at most; the oldest are forgotten first (a new one is worth more). */
const KEPT = 1_000;

export class BatchQuarantine {
  readonly #until = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  add(tenant: string): void {
    this.#until.delete(tenant);
    this.#until.set(tenant, this.#now() + QUARANTINE_MS);
    if (this.#until.size > KEPT) this.#until.delete(this.#until.keys().next().value!);
  }

  holds(tenant: string): boolean {
    const until = this.#until.get(tenant);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#until.delete(tenant);
    return false;
  }
}
