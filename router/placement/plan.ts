/**
 * @module Where a request runs, decided in one place from the model's placement, the caller's
 * tier and the state this isolate sees: `origin` models on the pool (503 at once when none is
 * configured); `edge` and `auto` models on a ModelHost replica in the caller's region, chosen by
 * the replica set, with the wait that replica last reported for this tier; `auto` ones may spill
 * to the pool when the tier allows it and some origin can serve the version.
 */
import type { TierConfig } from "../../config/tiers.ts";
import { HttpError } from "../../protocol/errors.ts";
import type { ModelVersionRecord } from "../../protocol/model-record.ts";
import { limitsOf } from "../limits.ts";
import { originPool, usable } from "../origin-pool/pool.ts";
import { modelHostFor, type HostChoice } from "./model-host.ts";
import { regionOf } from "./region.ts";
import { cappedBounds, replicaSetFor, type ReplicaSet } from "./replica-set.ts";

export type PlacementPlan =
  | { where: "pool" }
  | {
      where: "edge";
      host: HostChoice;
      replicas: ReplicaSet;
      /** The pool may take this request when the edge cannot (an `auto` model, a tier that may spill, a usable origin). */
      spillable: boolean;
      /** What the chosen replica last reported ahead of this tier, less the time since. */
      waitMs: number;
    };

/**
 * `newTenant`: the caller has nothing else in flight from this isolate, so the replica's wait for
 * a tenant with nothing queued applies (fair share), not its whole tier's backlog.
 *
 * @example const plan = planPlacement(c.env, c.req.raw.cf, model, tierConfig("premium"))
 */
export function planPlacement(
  env: Env,
  cf: IncomingRequestCfProperties | undefined,
  model: ModelVersionRecord,
  tier: TierConfig,
  newTenant = false,
): PlacementPlan {
  if (model.placement === "origin") {
    if (originPool(env).length === 0) throw new HttpError(503, `model '${model.name}' runs on the origin pool, and no origin is configured`, 30);
    return { where: "pool" };
  }
  const region = regionOf(cf);
  const limits = limitsOf(env);
  const replicas = replicaSetFor(region, model.name, cappedBounds(model, limits.maxReplicasPerRegion), limits.replicaScaleDownAfterMs);
  const host = modelHostFor(env, region, model.name, replicas.pick());
  const spillable = model.placement === "auto" && tier.maySpill && originPool(env).some((o) => usable(o, model));
  return { where: "edge", host, replicas, spillable, waitMs: replicas.waitMs(host.replica, tier.priority, Date.now(), newTenant) };
}

/** Whether the plan may send the request to the pool, so the pool's health checks should run. */
export function mayUsePool(model: ModelVersionRecord): boolean {
  return model.placement !== "edge";
}
