/**
 * @module Where an `auto` model's request runs: at the edge until the edge would miss the
 * deadline or be slower than the origin pool, then (if the tier may spill) on the pool.
 * Decided up front from the wait ahead of this tier that the chosen ModelHost last reported,
 * and again when the host itself refuses for lack of time.
 */
import type { TierConfig } from "../../config/tiers.ts";
import type { Placement } from "../../protocol/model-record.ts";
import { HttpError } from "../../protocol/errors.ts";
import { expectedWaitMs, originPool, usable, type ModelVersion } from "../origin-pool/pool.ts";

export function maySpill(env: Env, model: ModelVersion & { placement: Placement }, tier: TierConfig): boolean {
  return model.placement === "auto" && tier.maySpill && originPool(env).some((o) => usable(o, model));
}

/** Whether to send an `auto` request to the pool before trying the edge. */
export function spillUpFront(env: Env, model: ModelVersion, edgeWaitMs: number, budgetMs: number, priority: number): boolean {
  if (edgeWaitMs <= 0) return false;
  return edgeWaitMs >= budgetMs || edgeWaitMs > poolWaitMs(env, model, priority);
}

/**
 * Whether a request the edge refused is still worth sending to the pool: only while the time it
 * has left exceeds what the pool is expected to take. Otherwise the refusal is the answer, given
 * at once, rather than a 504 after the deadline from an origin that never had the time.
 */
export function spillAfterRefusal(env: Env, model: ModelVersion, error: unknown, remainingMs: number, priority: number): boolean {
  return isCapacityRefusal(error) && remainingMs > poolWaitMs(env, model, priority);
}

/** The least expected wait among origins usable for `model` (Infinity when none). */
function poolWaitMs(env: Env, model: ModelVersion, priority: number): number {
  return Math.min(...originPool(env).filter((o) => usable(o, model)).map((o) => expectedWaitMs(o, priority)));
}

/** A host refusal that the pool might still serve: no capacity or no time at the edge. */
export function isCapacityRefusal(error: unknown): boolean {
  return error instanceof HttpError && error.status === 503;
}

