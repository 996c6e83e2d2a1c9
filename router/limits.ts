/** @module Limits and timings from the Worker's vars, read per request (each is a number parse). */
export interface Limits {
  maxInferBodyBytes: number;
  maxUploadBytes: number;
  maxTensorElements: number;
  /** How long every replica of a set must be idle before one is removed. */
  replicaScaleDownAfterMs: number;
}

export function limitsOf(env: Env): Limits {
  return {
    maxInferBodyBytes: Number(env.MAX_INFER_BODY_BYTES),
    maxUploadBytes: Number(env.MAX_UPLOAD_BYTES),
    maxTensorElements: Number(env.MAX_TENSOR_ELEMENTS),
    replicaScaleDownAfterMs: positiveOr(env.REPLICA_SCALE_DOWN_AFTER_MS, 30_000),
  };
}

/** A var that must be a positive number; a missing or malformed one takes the safe default. */
function positiveOr(raw: string | undefined, fallback: number): number {
  const value = Number(raw);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}
