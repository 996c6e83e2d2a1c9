/**
 * @module Sending this isolate's counts to the Metrics object. After a request is recorded, a
 * flush starts in the background (`waitUntil`) when the last one began at least a second ago
 * and none is under way, so an isolate makes at most about one call a second however busy it
 * is; `GET /metrics` flushes at once, before it reads the totals. A batch whose call fails, or
 * whose answer is lost, stays here and is sent again with the same id on the next flush: the
 * object applies each id once, so nothing is lost and nothing counted twice. Two flushes that
 * overlap (a scrape during a background flush) may send the same batch twice, for the same reason harmlessly.
 */
import { METRICS_NAME, type MetricsBatch } from "../../durable-objects/metrics/contract.ts";
import { hasPending, takeBatch } from "./aggregate.ts";

export const FLUSH_EVERY_MS = 1_000;
/** Batches kept while the object cannot be reached: a minute of flushes; older ones are dropped (and logged). */
const MAX_UNSENT = 60;

/** Applies one batch; false when its id was applied before. */
export type ApplyBatch = (batch: MetricsBatch) => Promise<boolean>;

const unsent: MetricsBatch[] = [];
let lastFlushAt = 0;
let backgroundFlush = false;

/** The Metrics object's apply, through a stub made for this request (stubs do not outlive their request). */
export function applyToStore(env: Env): ApplyBatch {
  return async (batch) => env.METRICS.getByName(METRICS_NAME).apply(batch);
}

/** Starts a background flush when one is due (see the module comment). */
export function flushWhenDue(env: Env, waitUntil: (promise: Promise<unknown>) => void, now = Date.now()): void {
  if (backgroundFlush || now - lastFlushAt < FLUSH_EVERY_MS || (!hasPending() && unsent.length === 0)) return;
  backgroundFlush = true;
  waitUntil(
    flushNow(applyToStore(env))
      .catch((error: unknown) => console.error("sending metrics to the Metrics object failed; the batch is kept for the next flush", error))
      .finally(() => (backgroundFlush = false)),
  );
}

/** Sends what this isolate recorded, and every batch not yet confirmed, oldest first; rejects on the first failure (kept for later). */
export async function flushNow(apply: ApplyBatch): Promise<void> {
  lastFlushAt = Date.now();
  const batch = takeBatch();
  if (batch) unsent.push(batch);
  while (unsent.length > MAX_UNSENT) console.error(`metrics batch ${unsent.shift()!.id} dropped: the Metrics object has not answered for a minute`);
  for (const pending of [...unsent]) {
    await apply(pending);
    const at = unsent.indexOf(pending);
    if (at >= 0) unsent.splice(at, 1);
  }
}

/** Batches waiting to be sent again; for tests. */
export function unsentBatchCount(): number {
  return unsent.length;
}
