/** @module What a Scheduler is made with: how it runs the model and jobs, its policy and limits. */
import type { Tensor } from "../protocol/oip/tensor.ts";
import type { RunOutcome, ScheduledModel, SessionRun } from "./contract.ts";

/** Runs merged inputs on the model's session; reports how long the load and the run took. */
export type RunModel = (model: ScheduledModel, inputs: Tensor[], outputNames: string[]) => Promise<RunOutcome>;

/** Runs a job's loop on the model's session; reports how long the load and the whole loop took. */
export type RunJob = (model: ScheduledModel, loop: (run: SessionRun) => Promise<void>) => Promise<Omit<RunOutcome, "outputs">>;

/**
 * `tiered`: priorities, fair share and EDF (the platform). `fifo`: one first-come-first-served
 * queue with the same admission and deadlines: the baseline the benchmark compares against.
 */
export type SchedulingPolicy = "tiered" | "fifo";

export interface SchedulerOptions {
  maxQueueLength: number;
  policy?: SchedulingPolicy;
  run: RunModel;
  /** Runs jobs; without it submitJob refuses them (503). */
  runJob?: RunJob;
  /** Priorities whose wait ahead load() reports (the tiers' priorities). */
  reportPriorities?: readonly number[];
  /** Time constant of the thread share each priority used lately (BusyShare); default 2 s. */
  busyWindowMs?: number;
  now?: () => number;
}
