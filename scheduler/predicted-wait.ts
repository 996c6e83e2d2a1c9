/**
 * @module The predicted wait ahead of a new call: the rest of the current run plus the queued
 * calls that would go first, grouped into runs of up to max_batch rows when they can share one
 * (equal batch keys), a job as its runs one after another, and the gap between runs after each.
 * A running job of a less important tier is waited for only until its next yield (job-guard.ts),
 * by a request: a job waits for it to end, as only requests run at its yields.
 */
import type { ScheduledModel } from "./contract.ts";
import { RUNS_PER_YIELD } from "./job-guard.ts";
import type { ServiceTimePredictor } from "./service-time.ts";

export interface WaitingWork {
  call: { model: ScheduledModel };
  key: string | undefined;
  rows: number;
  /** Input elements of one run. */
  work: number;
  /** Runs (a job's; 1 for a request). */
  runs: number;
}

export interface RunningWork {
  model: ScheduledModel;
  /** Input elements of one run. */
  work: number;
  runs: number;
  startedAt: number;
  /** A job's priority: a more important call waits only for the job's next yield, where it runs first. */
  jobPriority?: number;
}

/** Milliseconds until a new call of `priority` behind `ahead` (in serving order) would start. */
export function predictedWaitMs(
  ahead: Iterable<WaitingWork>,
  running: RunningWork | undefined,
  now: number,
  gapMs: number,
  predictor: (model: ScheduledModel) => ServiceTimePredictor,
  priority = Number.POSITIVE_INFINITY,
  newcomerIsJob = false,
): number {
  let waitMs = 0;
  if (running) {
    const perRun = predictor(running.model).mean(running.work);
    const rest = Math.max(0, running.runs * perRun - (now - running.startedAt));
    const yields = !newcomerIsJob && running.jobPriority !== undefined && priority < running.jobPriority;
    waitMs = (yields ? Math.min(rest, RUNS_PER_YIELD * perRun) : rest) + gapMs;
  }
  let run = { rows: 0, work: 0, runs: 1 };
  let runModel: ScheduledModel | undefined;
  // Calls share a run when their batch keys match (same model version, shapes and outputs).
  // Not by model object: every call brings its own copy of the record.
  let runKey: string | undefined;
  const flush = () => {
    if (runModel && run.rows > 0) waitMs += run.runs * predictor(runModel).mean(run.work) + gapMs;
    run = { rows: 0, work: 0, runs: 1 };
    runKey = undefined;
  };
  for (const item of ahead) {
    const batches = item.key !== undefined;
    if (!batches || item.key !== runKey || run.rows + item.rows > item.call.model.maxBatch) flush();
    runModel = item.call.model;
    runKey = item.key;
    run.rows += item.rows;
    run.work += item.work;
    run.runs = item.runs;
    if (!batches) flush();
  }
  flush();
  return waitMs;
}
