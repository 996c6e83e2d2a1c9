/**
 * @module How many cold loads a ModelHost runs at once. A load holds the model's file in the
 * JavaScript heap while onnxruntime copies it into the wasm heap and builds its initializers
 * there: for a moment about three times the file. Loads started together (a default-version swap
 * warming hosts, replica warm-ups and uploads while requests load other versions) would add those
 * peaks up and could exhaust the isolate for every tenant on it, so the rest wait their turn, in
 * arrival order. Each waiting load already holds its place in the memory budget
 * (session-cache.ts), so the budget also bounds how many can wait.
 */

export interface LoadCounts {
  /** Loads begun since the host started (each read its bytes from R2). */
  started: number;
  running: number;
  waiting: number;
  /** The most loads that ever ran at the same time. */
  mostAtOnce: number;
}

export class LoadSlots {
  readonly #limit: number;
  readonly #waiting: (() => void)[] = [];
  #running = 0;
  #started = 0;
  #mostAtOnce = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Runs `load` once a slot is free; the slot passes to the next waiting load when it ends. */
  async run<T>(load: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running += 1; // a woken load inherits the slot of the one that ended, so no one can take it in between
    this.#started += 1;
    this.#mostAtOnce = Math.max(this.#mostAtOnce, this.#running);
    try {
      return await load();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running -= 1;
    }
  }

  counts(): LoadCounts {
    return { started: this.#started, running: this.#running, waiting: this.#waiting.length, mostAtOnce: this.#mostAtOnce };
  }
}
