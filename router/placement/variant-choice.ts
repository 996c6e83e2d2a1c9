/**
 * @module Which bytes of a version a request runs: the default, a variant it pins by name
 * (`parameters.variant`), or, when it may be degraded and the default cannot make it, the
 * cheapest variant (fewest bytes) that can. A variant is the version's record with other bytes:
 * hosts key sessions by sha256 and batch only requests of the same bytes, so an edge variant runs
 * beside the default on the model's hosts, in a session and runs of its own; origins serve a
 * variant placed there under a name of its own (`<version>~<variant>`).
 */
import type { TierConfig } from "../../config/tiers.ts";
import { badRequest } from "../../protocol/errors.ts";
import { NAME_PATTERN, type ModelVersionRecord, type VariantRecord } from "../../protocol/model-record.ts";
import { planPlacement, type PlacementPlan } from "./plan.ts";
import { isCapacityRefusal, poolWaitMs } from "./spill.ts";

/**
 * What the request asked for in `parameters.variant`: nothing (the default, which its tier may
 * degrade), `default` by name (the version's own bytes, pinned: never degraded), `auto`, or a variant by name.
 */
export type RequestedVariant = { kind: "default"; pinned: boolean } | { kind: "auto" } | { kind: "pinned"; variant: VariantRecord };

export interface VariantPlan {
  variant: VariantRecord;
  /** The version's record with the variant's bytes and placement: what the call paths run. */
  model: ModelVersionRecord;
  plan: PlacementPlan;
}

/**
 * The version's record as the variant: its bytes and placement, the version's signature and
 * scheduling settings, and its name in `variant`, which the origin pool addresses it by
 * (`<version>~<variant>`, servedVersion); metrics, logs and answers keep the version's name.
 */
export function variantAsVersion(
  version: ModelVersionRecord,
  variant: Pick<VariantRecord, "variant" | "r2Key" | "sha256" | "bytes" | "placement">,
): ModelVersionRecord {
  const { variants: _, ...record } = version;
  return { ...record, variant: variant.variant, r2Key: variant.r2Key, sha256: variant.sha256, bytes: variant.bytes, placement: variant.placement };
}

/** `parameters.variant` read against the version's variants: 400 for a name it does not have or a value that is not a name. */
export function requestedVariant(model: ModelVersionRecord, parameters: Record<string, unknown>): RequestedVariant {
  const wanted = parameters.variant;
  if (wanted === undefined) return { kind: "default", pinned: false };
  // Named, the default is pinned like any variant: a client that must have the full-precision answer says so.
  if (wanted === "default") return { kind: "default", pinned: true };
  if (wanted === "auto") return { kind: "auto" };
  // NAME_PATTERN: no variant has another name, and the refusal below repeats it.
  if (typeof wanted !== "string" || !NAME_PATTERN.test(wanted)) throw badRequest(`parameters.variant must be a variant's name, "default" or "auto"`);
  const variant = model.variants?.find((v) => v.variant === wanted);
  if (!variant) {
    const known = ["default", "auto", ...(model.variants ?? []).map((v) => v.variant)].join(", ");
    throw badRequest(`version '${model.version}' of model '${model.name}' has no variant '${wanted}'; it has ${known}`);
  }
  return { kind: "pinned", variant };
}

/** Whether the request may run on a variant it did not pin: it asked for `auto`, or it named nothing and its tier allows it. */
export function mayDegrade(tier: TierConfig, requested: RequestedVariant): boolean {
  return requested.kind === "auto" || (requested.kind === "default" && !requested.pinned && tier.mayDegrade);
}

export function planVariant(
  env: Env,
  cf: IncomingRequestCfProperties | undefined,
  model: ModelVersionRecord,
  variant: VariantRecord,
  tier: TierConfig,
): VariantPlan {
  const asVersion = variantAsVersion(model, variant);
  return { variant, model: asVersion, plan: planPlacement(env, cf, asVersion, tier) };
}

/**
 * The cheapest variant (fewest bytes; the registry keeps them in that order) that this request can
 * afford to wait for: at the edge, the wait its replica last reported (the same test as the
 * router's early refusal); on the pool, the least expected wait of the origins serving it, within
 * the time left. A variant on the default's own hosts shares their queue, so it helps when the
 * default's placement is unavailable (an origin model with the pool down), not when its edge queue
 * is too long; a variant on the pool helps an edge default whose hosts are too busy, and an origin
 * default that no origin serves now.
 */
export function chooseVariant(
  env: Env,
  cf: IncomingRequestCfProperties | undefined,
  model: ModelVersionRecord,
  tier: TierConfig,
  remainingMs: number,
  priority: number,
): VariantPlan | undefined {
  for (const variant of model.variants ?? []) {
    const candidate = plannedOrNone(() => planVariant(env, cf, model, variant, tier));
    if (!candidate) continue;
    if (
      candidate.plan.where === "edge"
        ? candidate.plan.waitMs <= Math.min(tier.maxQueueWaitMs, remainingMs)
        : poolWaitMs(env, candidate.model, priority) < remainingMs
    ) {
      return candidate;
    }
  }
  return undefined;
}

/** A variant on the pool with no origin configured cannot be planned (503): it is no candidate. */
function plannedOrNone(plan: () => VariantPlan): VariantPlan | undefined {
  try {
    return plan();
  } catch (error) {
    if (isCapacityRefusal(error)) return undefined;
    throw error;
  }
}
