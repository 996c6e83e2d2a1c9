/**
 * @module Limits and timings from the Worker's vars; a missing or malformed var takes its safe
 * default (config/vars.ts). Read once per env object: an isolate's env does not change while it
 * lives, and parsing five vars twice per inference showed in the router's CPU profile.
 */
import { positiveVar, VAR_DEFAULTS } from "../config/vars.ts";

export interface Limits {
  maxInferBodyBytes: number;
  maxUploadBytes: number;
  maxTensorElements: number;
  /** How long every replica of a set must be idle before one is removed. */
  replicaScaleDownAfterMs: number;
  /** Bytes of request bodies one router isolate reads and parses at once (router/admission/body-budget.ts). */
  routerBodyBudgetBytes: number;
  /** A cap on every model's replica bounds: 1 locally, where all replicas would share one thread. */
  maxReplicasPerRegion: number;
}

/** The vars limitsOf reads (the Worker's Env fits; Node tests pass only some, or none). */
export interface LimitVars {
  MAX_INFER_BODY_BYTES?: string;
  MAX_UPLOAD_BYTES?: string;
  MAX_TENSOR_ELEMENTS?: string;
  REPLICA_SCALE_DOWN_AFTER_MS?: string;
  ROUTER_BODY_BUDGET_MB?: string;
  MAX_REPLICAS_PER_REGION?: string;
}

const parsed = new WeakMap<LimitVars, Limits>();

export function limitsOf(env: LimitVars): Limits {
  let limits = parsed.get(env);
  if (!limits) parsed.set(env, (limits = readLimits(env)));
  return limits;
}

function readLimits(env: LimitVars): Limits {
  const whole = { integer: true };
  return {
    maxInferBodyBytes: positiveVar("MAX_INFER_BODY_BYTES", env.MAX_INFER_BODY_BYTES, VAR_DEFAULTS.MAX_INFER_BODY_BYTES, whole),
    maxUploadBytes: positiveVar("MAX_UPLOAD_BYTES", env.MAX_UPLOAD_BYTES, VAR_DEFAULTS.MAX_UPLOAD_BYTES, whole),
    maxTensorElements: positiveVar("MAX_TENSOR_ELEMENTS", env.MAX_TENSOR_ELEMENTS, VAR_DEFAULTS.MAX_TENSOR_ELEMENTS, whole),
    replicaScaleDownAfterMs: positiveVar("REPLICA_SCALE_DOWN_AFTER_MS", env.REPLICA_SCALE_DOWN_AFTER_MS, VAR_DEFAULTS.REPLICA_SCALE_DOWN_AFTER_MS),
    // Whole bytes of a number of MB that may be fractional (a test's small budget).
    routerBodyBudgetBytes: Math.floor(positiveVar("ROUTER_BODY_BUDGET_MB", env.ROUTER_BODY_BUDGET_MB, VAR_DEFAULTS.ROUTER_BODY_BUDGET_MB) * 1024 * 1024),
    maxReplicasPerRegion: positiveVar("MAX_REPLICAS_PER_REGION", env.MAX_REPLICAS_PER_REGION, VAR_DEFAULTS.MAX_REPLICAS_PER_REGION, whole),
  };
}
