/**
 * @module The session run a job's loop is given: it counts the runs and, every few runs, yields
 * to the event loop once. A job holds the Durable Object's thread for all its runs (each
 * `session.run` is synchronous wasm, and awaiting it yields only microtasks), so without a yield
 * nothing else gets in for the whole loop: not a cancel from a client that went away, not the
 * arrivals that should learn how busy the host is, and, on the deployed runtime, not even the
 * clock, which stands still during synchronous work. At each yield `pause` lets the scheduler
 * run more important requests first; after it the guard checks the deadline and cancellation, so
 * a job nobody can use any more stops there.
 */
import { HttpError } from "../protocol/errors.ts";
import type { SessionRun } from "./contract.ts";

/** Runs between two yields: about 100 ms of Silero runs, at a few tenths of a ms per yield. */
export const RUNS_PER_YIELD = 32;

export interface JobGuard {
  run: SessionRun;
  /** Runs made so far. */
  readonly runs: number;
}

export function guardJobRuns(
  run: SessionRun,
  deadline: number,
  cancelled: () => boolean,
  now: () => number = Date.now,
  pause: () => Promise<void> = async () => {},
): JobGuard {
  let runs = 0;
  return {
    get runs() {
      return runs;
    },
    async run(inputs, outputNames) {
      if (runs > 0 && runs % RUNS_PER_YIELD === 0) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        await pause();
        if (cancelled()) throw new HttpError(499, "the client cancelled the request");
        if (now() >= deadline) throw new HttpError(504, `the deadline passed while the job ran (${runs} runs done)`);
      }
      runs++;
      return run(inputs, outputNames);
    },
  };
}
