/**
 * @module What a route does with model work once its tenant is admitted, shared by the OIP infer
 * route and the function routes: find the version and plan where it runs, refusing at once when
 * the chosen host already has more work ahead of this tier than it may wait (before the body is
 * read); then run it where the plan says: a ModelHost replica, or the origin pool (always for
 * `origin` models, on spill for `auto` ones), each fallback only while the deadline leaves time.
 */
import type { Context } from "hono";
import type { TierConfig } from "../../config/tiers.ts";
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { HttpError } from "../../protocol/errors.ts";
import type { ModelVersionRecord } from "../../protocol/model-record.ts";
import { measureTiming, noteTiming } from "../../protocol/http/server-timing.ts";
import { nextHopTraceparent } from "../../protocol/http/trace.ts";
import type { AppEnv } from "../app-env.ts";
import { resolveVersion } from "../catalog.ts";
import { budgetBeforeBodyMs, refuseEarly } from "../admission/early-refusal.ts";
import { checkOriginsWhenDue } from "../origin-pool/health-check.ts";
import { inferOnPool } from "../origin-pool/origin-client.ts";
import { mayUsePool, planPlacement, type PlacementPlan } from "../placement/plan.ts";
import { isCapacityRefusal, spillAfterRefusal, spillUpFront } from "../placement/spill.ts";
import { onEdge, type Served, type Work } from "./edge-call.ts";
import { notePlaced } from "../metrics/record.ts";
import { tenantInFlight } from "../admission/tenant-limits.ts";

export interface PlacedModel {
  model: ModelVersionRecord;
  plan: PlacementPlan;
}

/**
 * The version `name` resolves to and where it runs for this tier; 503 at once when that is a
 * replica whose last report already rules the request out (refuseEarly).
 */
export async function placeModel(c: Context<AppEnv>, tier: TierConfig, name: string, version: string | undefined, arrivedAt: number): Promise<PlacedModel> {
  const model = await resolvePlaced(c, name, version);
  return { model, plan: planModel(c, tier, model, arrivedAt) };
}

/** The version `name` resolves to (404 unknown, 503 unloaded or none ready). */
export async function resolvePlaced(c: Context<AppEnv>, name: string, version: string | undefined): Promise<ModelVersionRecord> {
  return resolveVersion(c.env, name, version).catch((error: unknown) => {
    // A model that exists but is refused for its state (unloaded, nothing ready) is still its traffic: alerts scoped to it must see these.
    if (error instanceof HttpError && error.status === 503) notePlaced(c, { name, version: version ?? "" }, "none");
    throw error;
  });
}

/**
 * Where `model` runs for this tier; 503 at once when that is a replica whose last report already
 * rules the request out, unless `deferRefusal` (a cached answer may need no host: the route then
 * calls refuseIfHostBehind itself once it knows).
 */
export function planModel(c: Context<AppEnv>, tier: TierConfig, model: ModelVersionRecord, arrivedAt: number, deferRefusal = false): PlacementPlan {
  const newTenant = tenantInFlight(c.get("tenant").id) <= 1;
  const plan = planPlacement(c.env, c.req.raw.cf as IncomingRequestCfProperties | undefined, model, tier, newTenant);
  notePlaced(c, model, plan.where);
  if (mayUsePool(model)) checkOriginsWhenDue(c.env, (p) => c.executionCtx.waitUntil(p));
  if (!deferRefusal) refuseIfHostBehind(c, tier, plan, arrivedAt);
  return plan;
}

/** 503 at once when the plan's replica already has more work ahead of this tier than the request may wait. */
export function refuseIfHostBehind(c: Context<AppEnv>, tier: TierConfig, plan: PlacementPlan, arrivedAt: number): void {
  if (plan.where !== "edge" || plan.spillable) return;
  refuseEarly(c.get("tenant").tier, tier, plan.waitMs, budgetBeforeBodyMs(tier, c.req.header(TIMEOUT_HEADER)) - (Date.now() - arrivedAt));
}

/**
 * Where the work runs: on the pool when the plan says so; a spillable request on the pool first
 * when the edge is already too slow, else at the edge with the pool behind it for refusals; the
 * rest at the edge. Each fallback happens only while the deadline leaves time for it.
 */
export async function serveWork(c: Context<AppEnv>, work: Work, plan: PlacementPlan, maxQueueWaitMs: number): Promise<Served> {
  if (plan.where === "pool") return onPool(c, work, undefined);
  if (plan.spillable && spillUpFront(c.env, work.model, plan.waitMs, work.deadline - Date.now(), work.priority)) {
    try {
      return await onPool(c, work, "edge backlog");
    } catch (error) {
      // The pool failed first: the edge may still make it in the time left.
      if (!isCapacityRefusal(error) || work.deadline <= Date.now()) throw error;
      return onEdge(c, work, plan, maxQueueWaitMs);
    }
  }
  try {
    return await onEdge(c, work, plan, maxQueueWaitMs);
  } catch (error) {
    if (!plan.spillable || !spillAfterRefusal(c.env, work.model, error, work.deadline - Date.now(), work.priority)) throw error;
    return onPool(c, work, "edge refused");
  }
}

/** Runs on the origin pool; `spilled` says why an edge model went there. */
async function onPool(c: Context<AppEnv>, work: Work, spilled: string | undefined): Promise<Served> {
  if (spilled) noteTiming(c, "spill", spilled);
  const answer = await measureTiming(c, "origin", () => inferOnPool(c.env, { ...work, traceparent: nextHopTraceparent(c) }));
  noteTiming(c, "served", `origin:${answer.origin}${answer.attempts > 1 ? ` after ${answer.attempts} tries` : ""}`);
  return { outputs: answer.outputs, servedBy: `origin:${answer.origin}` };
}
