/**
 * @module What the router and the registry send a ModelHost over RPC, and what comes back
 * (wrapped in an RpcReply: failures are values, see protocol/rpc-reply.ts).
 */
import type { BatchAxes } from "../../protocol/batching.ts";
import type { TensorSpec } from "../../protocol/oip/tensor.ts";
import type { ScheduledCall, SchedulerCounters, SchedulerLoad } from "../../scheduler/contract.ts";
import type { ServiceTimeSnapshot } from "../../scheduler/service-time.ts";
import type { LoadCounts } from "./load-slots.ts";

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
  /** `bytes`: the model file; `memoryBytes`: what the session is counted as holding (protocol/session-memory.ts). */
  sessions: { model: string; version: string; bytes: number; memoryBytes: number; inFlight: number; idleMs: number; ready: boolean }[];
  /** The sessions' memoryBytes together, loading ones included: never above the budget. */
  memoryEstimateBytes: number;
  memoryBudgetBytes: number;
  /** Bytes of input tensors and job payloads of the requests accepted and not yet answered (HOST_QUEUE_BUDGET_MB). */
  queuedInputBytes: number;
  queueBudgetBytes: number;
  /** Cold loads (HOST_MAX_CONCURRENT_LOADS at once). */
  loads: LoadCounts;
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
