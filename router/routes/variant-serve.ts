/**
 * @module Serving an OIP inference with the version's variants (router/placement/variant-choice.ts):
 * a request that pins a variant runs it; one that may be degraded (its tier allows it, or it asked
 * `auto`) runs on the cheapest variant that can make it when the default cannot: its replica's
 * predicted wait rules it out (the early refusal), its placement is unavailable (an origin model
 * with no origin configured, or none usable: breakers open, health checks failing), the pool is
 * predicted too slow for the deadline, or the default's host or pool refused it for capacity.
 * A variant runs where it is placed: an edge host, or the pool (an `origin` variant, addressed by its
 * served version `<version>~<variant>`).
 * The answer says so (x-hotpath-variant, Server-Timing `variant` and `degraded`), and the metrics
 * count it (router/metrics/record.ts). Functions run only default bytes.
 *
 * A model without variants takes exactly the path it took before: its refusals are thrown at once,
 * before the body is read. One with variants hands a capacity refusal back instead, since the
 * body (parameters.variant) may yet pin a variant or allow degradation.
 */
import type { Context } from "hono";
import type { TierConfig } from "../../config/tiers.ts";
import { HttpError } from "../../protocol/errors.ts";
import type { ModelVersionRecord } from "../../protocol/model-record.ts";
import { noteTiming } from "../../protocol/http/server-timing.ts";
import type { AppEnv } from "../app-env.ts";
import { refuseEarly } from "../admission/early-refusal.ts";
import { notePlaced } from "../metrics/record.ts";
import { originPool, poolRetryAfterSeconds, usable } from "../origin-pool/pool.ts";
import { mayUsePool, type PlacementPlan } from "../placement/plan.ts";
import { checkOriginsWhenDue } from "../origin-pool/health-check.ts";
import { isCapacityRefusal, poolWaitMs } from "../placement/spill.ts";
import { chooseVariant, mayDegrade, planVariant, requestedVariant, type VariantPlan } from "../placement/variant-choice.ts";
import type { Served, Work } from "./edge-call.ts";
import { planModel, refuseIfHostBehind, resolvePlaced, serveWork } from "./serve-work.ts";

/** Why a request was degraded (hotpath_degraded_total's `reason`). */
export type DegradeReason = "deadline" | "unavailable" | "refused";

export interface VariantPlacement {
  model: ModelVersionRecord;
  /** Undefined when the default was refused (`refused`) before the body was read. */
  plan: PlacementPlan | undefined;
  refused: HttpError | undefined;
}

export interface VariantServed extends Served {
  /** The variant that answered; undefined for the default. */
  variant: string | undefined;
}

/**
 * The version and the default's plan; a capacity refusal of a model with variants is handed back,
 * not thrown. `deferRefusal`: the host's backlog is not checked yet (see refuseDeferred).
 */
export async function placeWithVariants(
  c: Context<AppEnv>,
  tier: TierConfig,
  name: string,
  version: string | undefined,
  arrivedAt: number,
  deferRefusal?: (model: ModelVersionRecord) => boolean,
): Promise<VariantPlacement> {
  const model = await resolvePlaced(c, name, version);
  return planOrRefused(c, model, () => planModel(c, tier, model, arrivedAt, deferRefusal?.(model) ?? false));
}

/**
 * The host-backlog refusal a placement deferred (a version that caches reads the body first, since
 * a hit needs no host), applied once the cache missed: thrown, or handed back for a model with variants.
 */
export function refuseDeferred(c: Context<AppEnv>, tier: TierConfig, placed: VariantPlacement, arrivedAt: number): VariantPlacement {
  const { plan } = placed;
  if (!plan) return placed;
  return planOrRefused(c, placed.model, () => (refuseIfHostBehind(c, tier, plan, arrivedAt), plan));
}

function planOrRefused(c: Context<AppEnv>, model: ModelVersionRecord, plan: () => PlacementPlan): VariantPlacement {
  if (!model.variants?.length) return { model, plan: plan(), refused: undefined };
  try {
    return { model, plan: plan(), refused: undefined };
  } catch (error) {
    if (!isCapacityRefusal(error)) throw error;
    // No origin configured is refused before the plan is noted: the request is still this model's.
    if (!c.get("placed")?.some((p) => p.name === model.name)) notePlaced(c, model, model.placement === "origin" ? "pool" : "edge");
    return { model, plan: undefined, refused: error as HttpError };
  }
}

/** Runs the work on what the request asked for, degrading it when it may and the default cannot make it. */
export async function serveWithVariants(
  c: Context<AppEnv>,
  work: Work,
  placed: VariantPlacement,
  tier: TierConfig,
  parameters: Record<string, unknown>,
): Promise<VariantServed> {
  const requested = requestedVariant(placed.model, parameters);
  const cf = c.req.raw.cf as IncomingRequestCfProperties | undefined;
  if (requested.kind === "pinned") {
    const pinned = planVariant(c.env, cf, placed.model, requested.variant, tier);
    if (pinned.plan.where === "edge") refuseEarly(c.get("tenant").tier, tier, pinned.plan.waitMs, work.deadline - Date.now());
    return serveVariant(c, work, tier, pinned, undefined);
  }
  const degradable = mayDegrade(tier, requested) && (placed.model.variants?.length ?? 0) > 0;
  const refused = placed.refused ?? (degradable && placed.plan ? poolRefusal(c.env, placed.model, placed.plan, work) : undefined);
  if (refused) {
    if (!degradable) throw refused;
    return degrade(c, work, tier, refused, refused.reason === "router_early" || refused.reason === "deadline" ? "deadline" : "unavailable");
  }
  try {
    return { ...(await serveWork(c, work, placed.plan!, tier.maxQueueWaitMs)), variant: undefined };
  } catch (error) {
    if (!degradable || !isCapacityRefusal(error)) throw error;
    return degrade(c, work, tier, error as HttpError, "refused");
  }
}

/**
 * For a default planned on the pool: the refusal it would get there, known before trying. No
 * usable origin is `unavailable`; a pool whose least expected wait exceeds the time left is
 * `deadline` (the wait spill.ts compares the edge with).
 */
function poolRefusal(env: Env, model: ModelVersionRecord, plan: PlacementPlan, work: Work): HttpError | undefined {
  if (plan.where !== "pool") return undefined;
  const pool = originPool(env);
  if (!pool.some((o) => usable(o, model))) return new HttpError(503, "no origin is available now", poolRetryAfterSeconds(pool));
  const waitMs = poolWaitMs(env, model, work.priority);
  const remainingMs = work.deadline - Date.now();
  if (waitMs >= remainingMs) {
    return new HttpError(503, `the origin pool expects a wait of about ${Math.round(waitMs)} ms, more than the ${remainingMs} ms left`, 1, "deadline");
  }
  return undefined;
}

/** The cheapest variant that can make it, or the default's refusal when none can. */
async function degrade(c: Context<AppEnv>, work: Work, tier: TierConfig, refusal: HttpError, reason: DegradeReason): Promise<VariantServed> {
  const choice = chooseVariant(c.env, c.req.raw.cf as IncomingRequestCfProperties | undefined, work.model, tier, work.deadline - Date.now(), work.priority);
  if (!choice) throw refusal;
  return serveVariant(c, work, tier, choice, reason);
}

async function serveVariant(
  c: Context<AppEnv>,
  work: Work,
  tier: TierConfig,
  choice: VariantPlan,
  degraded: DegradeReason | undefined,
): Promise<VariantServed> {
  noteTiming(c, "variant", choice.variant.variant);
  // The default's placement may never use the pool (an edge version): its health checks are this request's to start.
  if (mayUsePool(choice.model)) checkOriginsWhenDue(c.env, (p) => c.executionCtx.waitUntil(p));
  if (degraded) noteTiming(c, "degraded", degraded);
  const served = await serveWork(c, { ...work, model: choice.model }, choice.plan, tier.maxQueueWaitMs);
  return { ...served, variant: choice.variant.variant };
}
