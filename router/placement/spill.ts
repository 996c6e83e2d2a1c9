/**
 * @module Where an `auto` model's request runs: at the edge until the edge would miss the
 * deadline or be slower than the origin pool, then (if the tier may spill) on the pool.
 * Decided up front from the backlog the chosen ModelHost last reported, and again when the
 * host itself refuses for lack of time.
 */
import type { TierConfig } from "../../config/tiers.ts";
import type { Placement } from "../../durable-objects/model-registry/records.ts";
import { HttpError } from "../../protocol/errors.ts";
import { expectedWaitMs, originPool } from "../origin-pool/pool.ts";

export function maySpill(env: Env, placement: Placement, tier: TierConfig): boolean {
  return placement === "auto" && tier.maySpill && originPool(env).some((o) => o.breaker.state() !== "open");
}

/** Whether to send an `auto` request to the pool before trying the edge. */
export function spillUpFront(env: Env, edgeBacklogMs: number, budgetMs: number): boolean {
  if (edgeBacklogMs <= 0) return false;
  const best = Math.min(...originPool(env).filter((o) => o.breaker.state() !== "open").map((o) => expectedWaitMs(o)));
  return edgeBacklogMs >= budgetMs || edgeBacklogMs > best;
}

/** A host refusal that the pool might still serve: no capacity or no time at the edge. */
export function isCapacityRefusal(error: unknown): boolean {
  return error instanceof HttpError && error.status === 503;
}

