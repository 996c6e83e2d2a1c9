/**
 * @module What the router and the registry send a ModelHost over RPC, and what comes back
 * (wrapped in an RpcReply: failures are values, see protocol/rpc-reply.ts).
 */
import type { BatchAxes } from "../../protocol/batching.ts";
import type { Tensor, TensorSpec } from "../../protocol/tensor.ts";
import type { ServiceTimeSnapshot } from "./scheduler/service-time.ts";
import type { ModelVersionRecord } from "../model-registry/records.ts";

/** The part of a version record a host needs to load, schedule and run it. */
export type HostModel = Pick<ModelVersionRecord, "name" | "version" | "r2Key" | "sha256" | "bytes" | "maxBatch" | "maxQueueDelayMs" | "batchAxes">;

export interface HostInferCall {
  model: HostModel;
  inputs: Tensor[];
  outputNames: string[];
  /** Lets the router cancel queued work when its client goes away. */
  requestId: string;
  tenant: string;
  /** Tier priority: lower runs first. */
  priority: number;
  /** Absolute deadline, epoch milliseconds. */
  deadline: number;
  /** The tier's longest acceptable wait in the queue. */
  maxQueueWaitMs: number;
}

export interface HostTiming {
  /** Milliseconds spent loading the session, 0 when it was warm. */
  loadMs: number;
  /** Milliseconds waiting in the queue (including any wait to fill a batch). */
  queueMs: number;
  inferMs: number;
  /** Rows in the run this request was part of. */
  batchSize: number;
}

/** Load a host reports with every answer, so the router can pick the less busy replica. */
export interface HostLoad {
  queued: number;
  running: number;
  /** Predicted milliseconds of work queued ahead of a new request of the lowest priority. */
  backlogMs: number;
}

export interface HostInferValue {
  outputs: Tensor[];
  timing: HostTiming;
  load: HostLoad;
}

export interface HostState {
  host: string;
  sessions: { model: string; version: string; bytes: number; inFlight: number; idleMs: number; ready: boolean }[];
  memoryEstimateBytes: number;
  memoryBudgetBytes: number;
  load: HostLoad;
  /** Predicted session.run time per version and batch size. */
  serviceTimes: Record<string, ServiceTimeSnapshot[]>;
  counters: SchedulerCounters;
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
}

export interface InspectedModel {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  batchAxes: BatchAxes | undefined;
}
