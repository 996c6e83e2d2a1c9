/**
 * @module Server-Timing: where a request's time went (auth, queue, load, infer, total),
 * collected along the way and written once on the response.
 */
export class ServerTiming {
  readonly #startedAt = performance.now();
  readonly #entries: string[] = [];

  add(name: string, durationMs: number, description?: string): void {
    const desc = description ? `;desc="${description}"` : "";
    this.#entries.push(`${name};dur=${durationMs.toFixed(2)}${desc}`);
  }

  /** An entry without a duration, e.g. `batch;desc="8"`. */
  note(name: string, description: string): void {
    this.#entries.push(`${name};desc="${description}"`);
  }

  /** Times `work` under `name`. */
  async measure<T>(name: string, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.add(name, performance.now() - start);
    }
  }

  header(): string {
    return [...this.#entries, `total;dur=${(performance.now() - this.#startedAt).toFixed(2)}`].join(", ");
  }
}
