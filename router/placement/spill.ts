/**
 * @module When a spillable request (plan.ts decides which are) goes to the origin pool
 * instead of the edge: up front, when the wait the chosen ModelHost last reported would miss the
 * deadline or exceed the pool's; and after the host itself refused for lack of time, while the
 * time left still exceeds the pool's expected wait.
 */
import { HttpError } from "../../protocol/errors.ts";
import type { ModelRef } from "../../protocol/model-record.ts";
import { expectedWaitMs, originPool, usable } from "../origin-pool/pool.ts";

/** Whether to send the request to the pool before trying the edge. */
export function spillUpFront(env: Env, model: ModelRef, edgeWaitMs: number, budgetMs: number, priority: number): boolean {
  if (edgeWaitMs <= 0) return false;
  return edgeWaitMs >= budgetMs || edgeWaitMs > poolWaitMs(env, model, priority);
}

/**
 * Whether a request the edge refused is still worth sending to the pool: only while the time it
 * has left exceeds what the pool is expected to take. Otherwise the refusal is the answer, given
 * at once, rather than a 504 after the deadline from an origin that never had the time.
 */
export function spillAfterRefusal(env: Env, model: ModelRef, error: unknown, remainingMs: number, priority: number): boolean {
  return isCapacityRefusal(error) && remainingMs > poolWaitMs(env, model, priority);
}

/** The least expected wait among origins usable for `model` (Infinity when none). */
export function poolWaitMs(env: Env, model: ModelRef, priority: number): number {
  return Math.min(
    ...originPool(env)
      .filter((o) => usable(o, model))
      .map((o) => expectedWaitMs(o, priority)),
  );
}

/** A refusal that the other side might still serve: no capacity or no time there. */
export function isCapacityRefusal(error: unknown): boolean {
  return error instanceof HttpError && error.status === 503;
}
