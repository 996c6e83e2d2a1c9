/**
 * @module What the router and the registry send a ModelHost over RPC, and what comes back
 * (wrapped in an RpcReply: failures are values, see protocol/rpc-reply.ts).
 */
import type { BatchAxes } from "../../protocol/batching.ts";
import type { TensorSpec } from "../../protocol/oip/tensor.ts";
import type { ScheduledCall, SchedulerCounters, SchedulerLoad } from "../../scheduler/contract.ts";
import type { ServiceTimeSnapshot } from "../../scheduler/service-time.ts";

/** The scheduler's types, under the names the router and the registry use for a host. */
export type {
  ScheduledModel as HostModel,
  ScheduledCall as HostInferCall,
  RunTiming as HostTiming,
  SchedulerLoad as HostLoad,
  ScheduledResult as HostInferValue,
  SchedulerCounters,
} from "../../scheduler/contract.ts";

/** A job for the host: the host loop (functions/host-loops.ts) it names, over its payload, as one scheduled unit. */
export interface HostJobCall extends Omit<ScheduledCall, "inputs" | "outputNames"> {
  loop: string;
  payload: unknown;
}

export type { ScheduledJobResult as HostJobValue } from "../../scheduler/contract.ts";

export interface HostState {
  host: string;
  sessions: { model: string; version: string; bytes: number; inFlight: number; idleMs: number; ready: boolean }[];
  memoryEstimateBytes: number;
  memoryBudgetBytes: number;
  load: SchedulerLoad;
  /** Predicted session.run time per version and batch size. */
  serviceTimes: Record<string, ServiceTimeSnapshot[]>;
  counters: SchedulerCounters;
}

export interface InspectedModel {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  batchAxes: BatchAxes | undefined;
}
