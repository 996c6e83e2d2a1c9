/**
 * @module What the router and the registry send a ModelHost over RPC, and what comes back
 * (wrapped in an RpcReply: failures are values, see protocol/rpc-reply.ts).
 */
import type { Tensor, TensorSpec } from "../../protocol/tensor.ts";
import type { ModelVersionRecord } from "../model-registry/records.ts";

/** The part of a version record a host needs to load and run it. */
export type HostModel = Pick<ModelVersionRecord, "name" | "version" | "r2Key" | "sha256" | "bytes" | "maxBatch">;

export interface HostInferCall {
  model: HostModel;
  inputs: Tensor[];
  outputNames: string[];
}

export interface HostTiming {
  /** Milliseconds spent loading the session, 0 when it was warm. */
  loadMs: number;
  /** Milliseconds waiting behind other runs on this host. */
  queueMs: number;
  inferMs: number;
}

export interface HostInferValue {
  outputs: Tensor[];
  timing: HostTiming;
}

export interface HostState {
  host: string;
  sessions: { model: string; version: string; bytes: number; inFlight: number; idleMs: number; ready: boolean }[];
  memoryEstimateBytes: number;
  memoryBudgetBytes: number;
  queued: number;
}

export interface InspectedModel {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}
