/**
 * @module What a Scheduler takes and gives back. The ModelHost (edge) and the origin server
 * both schedule through it, so these types belong to neither.
 */
import type { ModelVersionRecord } from "../protocol/model-record.ts";
import type { Tensor } from "../protocol/oip/tensor.ts";

/** The part of a version record needed to load, schedule and run it. */
export type ScheduledModel = Pick<ModelVersionRecord, "name" | "version" | "r2Key" | "sha256" | "bytes" | "maxBatch" | "maxQueueDelayMs" | "batchAxes">;

/** What one run of merged inputs reports back: its outputs and how long the load and the run took. */
export interface RunOutcome {
  outputs: Tensor[];
  loadMs: number;
  inferMs: number;
  /** The session's first run since it was loaded: slow with onnxruntime's lazy setup, so not the model's speed (service-time.ts). */
  firstRun?: boolean;
}

export interface ScheduledCall {
  model: ScheduledModel;
  inputs: Tensor[];
  outputNames: string[];
  /** Lets the caller cancel queued work when its client goes away. */
  requestId: string;
  tenant: string;
  /** Tier priority: lower runs first. */
  priority: number;
  /** Absolute deadline, epoch milliseconds. */
  deadline: number;
  /** The tier's longest acceptable wait in the queue. */
  maxQueueWaitMs: number;
  /** W3C traceparent of the caller's call (protocol/trace-context.ts): names the request in the host's log. */
  traceparent?: string;
}

/** One run of the model on the warm session, as a job's loop calls it. */
export type SessionRun = (inputs: Tensor[], outputNames: string[]) => Promise<Tensor[]>;

/**
 * A job: a loop of many sequential runs of one model on one warm session (e.g. a VAD over a clip:
 * one Silero run per 32 ms window, each carrying the state of the one before), submitted, admitted
 * and queued as one unit, so the loop costs one call to the host instead of one per run. Its cost
 * is predicted before admission as `runs` times the predicted time of one run of `workPerRun`
 * input elements. A job never shares a run with other requests.
 */
export interface ScheduledJob<T> extends Omit<ScheduledCall, "inputs" | "outputNames"> {
  /** Model runs the loop will make (predicted from the input's length). */
  runs: number;
  /** Input elements of each run. */
  workPerRun: number;
  loop: (run: SessionRun) => Promise<T>;
}

/** What running a job's loop on the session reports back. */
export interface JobOutcome<T> {
  value: T;
  loadMs: number;
  /** The whole loop, all its runs and the work between them. */
  inferMs: number;
  /** Runs the loop made. */
  runs: number;
  firstRun?: boolean;
}

export interface ScheduledJobResult<T> {
  value: T;
  timing: RunTiming;
  load: SchedulerLoad;
}

export interface RunTiming {
  /** Milliseconds spent loading the session, 0 when it was warm. */
  loadMs: number;
  /** Milliseconds waiting in the queue (including any wait to fill a batch). */
  queueMs: number;
  inferMs: number;
  /** Rows in the run this request was part of. */
  batchSize: number;
  /** Model runs a job made (absent for a single request). */
  runs?: number;
}

/** The load a scheduler reports with every answer, so callers can pick, shed and spill. */
export interface SchedulerLoad {
  queued: number;
  running: number;
  /** Predicted milliseconds of work queued ahead of a new request of the lowest priority. */
  backlogMs: number;
  /**
   * Predicted milliseconds ahead of a new request of each reported priority (keys are
   * priorities): what a router reads to refuse a tier before it sends the request at all.
   */
  waitAheadMs: Record<number, number>;
  /**
   * The same for a request of a tenant with nothing queued here: under fair share it waits for a
   * round of the other tenants of its tier, not for all their backlog. Absent from older reports.
   */
  newTenantWaitAheadMs?: Record<number, number>;
  /** Time between two runs when work was waiting (the work around each run), ms per run. */
  gapMs: number;
}

export interface ScheduledResult {
  outputs: Tensor[];
  timing: RunTiming;
  load: SchedulerLoad;
}

export interface SchedulerCounters {
  admitted: number;
  completed: number;
  rejectedDeadline: number;
  rejectedFull: number;
  shed: number;
  expired: number;
  cancelled: number;
  batches: number;
  batchedRequests: number;
  /** Requests run again alone because the batched run they were part of failed. */
  retriedAlone: number;
  /** Jobs run to the end, and the model runs their loops made. */
  jobs: number;
  jobRuns: number;
}

export function zeroCounters(): SchedulerCounters {
  return {
    admitted: 0,
    completed: 0,
    rejectedDeadline: 0,
    rejectedFull: 0,
    shed: 0,
    expired: 0,
    cancelled: 0,
    batches: 0,
    batchedRequests: 0,
    retriedAlone: 0,
    jobs: 0,
    jobRuns: 0,
  };
}

/**
 * Predicted wait ahead of a new request of `priority` (of a tenant with nothing queued there, when
 * `newTenant` and the report says); the whole backlog when the report has no figure for it.
 */
function waitAheadFor(load: SchedulerLoad, priority: number, newTenant: boolean): number {
  return (newTenant ? load.newTenantWaitAheadMs?.[priority] : undefined) ?? load.waitAheadMs[priority] ?? load.backlogMs;
}

/**
 * The wait ahead of `priority` now, from a report made at `reportedAt`: what it said less the
 * time since (the scheduler has been working it off), never below 0; 0 once older than `staleMs`.
 */
export function waitAheadSince(load: SchedulerLoad, reportedAt: number, priority: number, now: number, staleMs: number, newTenant = false): number {
  if (now - reportedAt > staleMs) return 0;
  return Math.max(0, waitAheadFor(load, priority, newTenant) - (now - reportedAt));
}

/** The same load with `ms` more ahead of everyone (e.g. time spent before the scheduler saw a request). */
export function withWaitBefore(load: SchedulerLoad, ms: number): SchedulerLoad {
  const plus = (waits: Record<number, number>) => Object.fromEntries(Object.entries(waits).map(([priority, wait]) => [priority, wait + ms]));
  const newTenant = load.newTenantWaitAheadMs && { newTenantWaitAheadMs: plus(load.newTenantWaitAheadMs) };
  return { ...load, backlogMs: load.backlogMs + ms, waitAheadMs: plus(load.waitAheadMs), ...newTenant };
}
