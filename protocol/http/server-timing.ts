/**
 * @module Server-Timing on top of hono/timing (the middleware collects the entries and writes the
 * header, `total` included, once the answer is made): the few calls our routes make, at the
 * 0.01 ms precision the benchmarks read.
 */
import type { Context } from "hono";
import { setMetric, startTime, endTime, timing, type TimingVariables } from "hono/timing";

export type { TimingVariables };

/** The middleware both servers use: `total` last, with no description beside it. */
export const serverTiming = () => timing({ totalDescription: "" });

/** An entry with a duration, e.g. `queue;dur=1.25`, or with a description too, e.g. `cache;dur=0.4;desc="hit"`. */
export function addTiming(c: Context, name: string, durationMs: number, description?: string): void {
  setMetric(c, name, durationMs, description, 2);
}

/** An entry without a duration, e.g. `batch;desc="8"`. */
export function noteTiming(c: Context, name: string, description: string): void {
  setMetric(c, name, description);
}

/** Times `work` under `name`. */
export async function measureTiming<T>(c: Context, name: string, work: () => Promise<T>): Promise<T> {
  startTime(c, name);
  try {
    return await work();
  } finally {
    endTime(c, name, 2);
  }
}
