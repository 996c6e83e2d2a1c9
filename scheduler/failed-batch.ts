/**
 * @module What a scheduler does with a run that failed. One request's bad inputs fail a merged run
 * as a whole, and every tenant in it: each request runs again alone then (if its deadline still
 * allows), so only the faulty one gets the error, and its tenant's requests run alone for a while
 * (batch-quarantine.ts). A failure that says to retry later (no session) is no request's fault
 * and would fail each run alike: it answers the whole batch.
 */
import { HttpError } from "../protocol/errors.ts";
import type { BatchQuarantine } from "./batch-quarantine.ts";
import type { SchedulerCounters } from "./contract.ts";
import { runError, type Queued } from "./queued.ts";

export interface FailedBatchContext {
  counters: SchedulerCounters;
  quarantine: BatchQuarantine;
  now: () => number;
  /** Runs one request alone and answers it; throws when the run fails. */
  runAlone: (item: Queued) => Promise<unknown>;
}

export async function answerFailedBatch(batch: readonly Queued[], error: unknown, context: FailedBatchContext): Promise<void> {
  const httpError = runError(error);
  if (batch.length === 1 || httpError.retryAfterSeconds !== undefined) {
    for (const item of batch) item.reject(httpError);
    return;
  }
  context.counters.retriedAlone += batch.length;
  for (const item of batch) {
    if (item.call.deadline <= context.now()) {
      context.counters.expired++;
      item.reject(new HttpError(504, "the deadline passed before the request could run again alone, after its batch failed"));
      continue;
    }
    try {
      await context.runAlone(item);
    } catch (alone) {
      const aloneError = runError(alone);
      if (aloneError.retryAfterSeconds === undefined) context.quarantine.add(item.call.tenant); // it broke its batch
      item.reject(aloneError);
    }
  }
}
