/**
 * @module What an end-to-end file started, stopped in its `after` whatever happened. A process is
 * registered as soon as it exists, before anyone waits for it to be ready: a start that fails or
 * times out in a `Promise.all` must not leave its siblings running. Starts still in progress
 * when cleanup begins are aborted (through `signal`) or stopped as soon as they finish, and a
 * start asked for after cleanup began (a timed-out test body still running) is stopped at once.
 */
export class Cleanup {
  readonly #aborter = new AbortController();
  readonly #starting = new Set<Promise<unknown>>();
  readonly #stops = new Set<() => Promise<unknown>>();
  /** Run after every process is gone (scratch directories), last registered first. */
  readonly #finally: (() => void | Promise<void>)[] = [];

  /** Aborted when cleanup begins: pass it to starts that take one (startWranglerDev). */
  get signal(): AbortSignal {
    return this.#aborter.signal;
  }

  /** Something already running (a process spawned, maybe not yet ready); returns a function that unregisters it. */
  add(stop: () => Promise<unknown>): () => void {
    if (this.signal.aborted) {
      void stop();
      throw new Error("cleanup has begun: nothing new may start");
    }
    this.#stops.add(stop);
    return () => this.#stops.delete(stop);
  }

  /** A start in progress: once it resolves, `stop` is registered for what it started. */
  start<T>(starting: Promise<T>, stop: (started: T) => Promise<unknown>): Promise<T> {
    const registered = starting.then(async (started) => {
      if (this.signal.aborted) {
        await stop(started); // cleanup waits for this start, so also for this stop
        throw new Error("cleanup began while this was starting: stopped");
      }
      this.#stops.add(() => stop(started));
      return started;
    });
    this.#starting.add(registered.catch(() => undefined));
    return registered;
  }

  /** Runs once every process is stopped (in reverse order of registration). */
  finally(step: () => void | Promise<void>): void {
    this.#finally.push(step);
  }

  /** Aborts starts in progress, waits for them, stops every process at once, then runs the `finally` steps. */
  async run(): Promise<void> {
    this.#aborter.abort();
    await Promise.all(this.#starting);
    const stopped = await Promise.allSettled([...this.#stops].map((stop) => stop()));
    this.#stops.clear();
    const failures: unknown[] = stopped.flatMap((result) => (result.status === "rejected" ? [result.reason] : []));
    for (const step of this.#finally.reverse()) {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    }
    this.#finally.length = 0;
    if (failures.length > 0) throw new AggregateError(failures, `cleanup: ${failures.length} step(s) failed`);
  }
}
