/**
 * @module What the scheduler keeps for each admitted call while it waits and runs: a request
 * (merged with compatible ones into one run) or a job (a loop of runs on one session, alone).
 */
import { HttpError } from "../protocol/errors.ts";
import type { ScheduledCall, ScheduledResult, SessionRun } from "./contract.ts";
import type { Schedulable } from "./queue.ts";

export interface Queued extends Schedulable {
  /** A job's call carries no inputs (its loop makes them). */
  call: ScheduledCall;
  /** Queued calls with equal keys can share a run; undefined: runs alone (always for a job). */
  key: string | undefined;
  rows: number;
  /** Input elements of one run: what run time is predicted from. */
  work: number;
  /** Model runs: 1 for a request, the predicted count for a job. */
  runs: number;
  /** A job's loop; undefined for a request. */
  loop: ((run: SessionRun) => Promise<void>) | undefined;
  enqueuedAt: number;
  resolve: (value: ScheduledResult) => void;
  reject: (error: HttpError) => void;
}

/** A failed run's error as an HttpError; anything else is our fault (500), logged. */
export function runError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  console.error("model run failed", error);
  return new HttpError(500, "inference failed inside the model host");
}
