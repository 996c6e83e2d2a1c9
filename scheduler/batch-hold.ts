/**
 * @module How long the head of the queue may wait for its batch to fill: until max_queue_delay
 * after it was queued, and never so long that a batch grown to max_batch rows would miss the
 * earliest deadline among its requests.
 */
import type { Queued } from "./queued.ts";

/**
 * Kept between the latest start of a held batch and the deadline it must meet, because timers
 * fire late: later the longer they are (workerd fired a 1 s hold 5-9 ms late) and the busier the
 * thread (tens of ms on a loaded machine). A hold that fires past the deadline is a 504 for a
 * request that could have run, so a hold never uses the last tenth of the time a request has left.
 */
const HOLD_MARGIN_MS = 5;
const HOLD_MARGIN_SHARE = 0.1;

/**
 * When to run `batch` (gathered behind its head; `rows` and `work` its totals) at the latest if it
 * is held to fill; undefined when it should run now (it cannot batch, is full, or its time to wait
 * is up). `upperMs(work)`: the pessimistic run time of `work`; `gapMs`: the time between two runs.
 */
export function batchHoldUntil(
  batch: readonly Queued[],
  { rows, work }: { rows: number; work: number },
  now: number,
  upperMs: (work: number) => number,
  gapMs: number,
): number | undefined {
  const head = batch[0]!;
  const model = head.call.model;
  if (head.key === undefined || rows >= model.maxBatch) return undefined;
  const waitUntil = head.enqueuedAt + model.maxQueueDelayMs;
  // Waiting may grow the batch to max_batch rows; its run must still end before every deadline.
  const fullWork = (work / rows) * model.maxBatch;
  const deadline = Math.min(...batch.map((item) => item.call.deadline));
  const margin = HOLD_MARGIN_MS + HOLD_MARGIN_SHARE * Math.max(0, deadline - now);
  const until = Math.min(waitUntil, deadline - upperMs(fullWork) - gapMs - margin);
  return now < until ? until : undefined;
}
