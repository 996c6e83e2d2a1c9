/**
 * @module One lane for session runs: a Durable Object has one thread, and onnxruntime-web
 * refuses overlapping runs, so runs on a host go one at a time in arrival order.
 */
export class RunLane {
  #tail: Promise<void> = Promise.resolve();
  #waiting = 0;

  get waiting(): number {
    return this.#waiting;
  }

  /** Runs `task` after every task submitted before it has settled. */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.#waiting += 1;
    const result = this.#tail.then(() => {
      this.#waiting -= 1;
      return task();
    });
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
