/**
 * @module One Workers Analytics Engine data point per counted request, when the Worker has an
 * `ANALYTICS` binding (wrangler.toml leaves it out; README, "Metrics", says how to add it).
 * writeDataPoint queues the point in the runtime and returns at once: no I/O on the request's
 * path. The dataset keeps what `/metrics` aggregates away: the tenant, and each request on its own.
 */

export interface RequestPoint {
  tenant: string;
  model: string;
  version: string;
  tier: string;
  status: number;
  placement: string;
  function: string;
  reason: string;
  seconds: number;
}

/** The binding is optional, so it is not in the generated Env: read it as what it is when present. */
type MaybeAnalytics = { ANALYTICS?: AnalyticsEngineDataset };

export function writeDataPoint(env: Env, point: RequestPoint): void {
  const dataset = (env as unknown as MaybeAnalytics).ANALYTICS;
  if (!dataset) return;
  dataset.writeDataPoint({
    // The sampling key: Analytics Engine samples per index, so per-tenant figures stay right under sampling.
    indexes: [point.tenant],
    // blob1..blob8 and double1..double2, in this order (README lists them).
    blobs: [point.tenant, point.model, point.version, point.tier, String(point.status), point.placement, point.function, point.reason],
    doubles: [point.seconds * 1000, point.status],
  });
}
