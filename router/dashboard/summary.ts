/**
 * @module The dashboard's JSON view of the same totals and gauges `GET /metrics` exposes, summed
 * over models and grouped the way the charts show them: per tier the request count, the 429 and
 * 503 answers and the request-duration histogram (counts per bucket, not cumulative, the last
 * being +Inf) beside the tier's default deadline; refusals and spills by reason; and per replica
 * its queue length and warm sessions, per origin whether it is up, per model that caches its
 * response cache's hits, misses and hit ratio. Everything is a running total
 * or a gauge: the page takes the differences between two polls (router/dashboard/page/series.js),
 * so this view keeps no state and any number of open dashboards costs the same per poll.
 */
import { TIER_NAMES, TIERS } from "../../config/tiers.ts";
import type { MetricsTotals } from "../../durable-objects/metrics/contract.ts";
import type { GaugeSample } from "../metrics/exposition.ts";
import { FAMILIES } from "../metrics/families.ts";
import type { Labels } from "../metrics/series.ts";

export interface TierSummary {
  /** The tier's default deadline: the SLO the attainment chart measures against. */
  deadlineSeconds: number;
  requests: number;
  /** 429 and 503 answers: refused at once, so fast, yet not served (the page counts them as misses). */
  refused: number;
  /** Requests per request-duration bucket (`durationBounds`, then +Inf), over every model and function. */
  durationCounts: number[];
}

export interface DashboardSummary {
  /** When the totals were read, in ms since the epoch. */
  at: number;
  /** Upper bounds of the request-duration buckets, in seconds. */
  durationBounds: readonly number[];
  /** Every request counted, those refused before a tenant was known (no tier) included. */
  requests: number;
  tiers: Record<string, TierSummary>;
  refusals: Record<string, number>;
  spills: Record<string, number>;
  /** `hotpath_degraded_total` by reason: requests a cheaper variant answered because the default could not. */
  degraded: Record<string, number>;
  /** Keyed `<model> <region>/<replica>`. */
  queueLength: Record<string, number>;
  sessionsLoaded: Record<string, number>;
  /** 1 when the origin is usable, 0 when not. */
  originUp: Record<string, number>;
  /** Hosts seen lately that the poll did not ask (over METRICS_MAX_HOSTS_PER_SCRAPE): missing from queueLength and sessionsLoaded. */
  hostsNotScraped: number;
  /** Per model that caches answers: its response cache's hits and misses so far and their ratio (hits over lookups). */
  cache: Record<string, CacheSummary>;
}

export interface CacheSummary {
  hits: number;
  misses: number;
  hitRatio: number;
}

export function dashboardSummary(totals: MetricsTotals, gauges: GaugeSample[], at: number): DashboardSummary {
  const bounds = FAMILIES.requestDuration.buckets;
  const tiers: Record<string, TierSummary> = Object.fromEntries(
    TIER_NAMES.map((tier) => [
      tier,
      { deadlineSeconds: TIERS[tier].defaultDeadlineMs / 1000, requests: 0, refused: 0, durationCounts: new Array<number>(bounds.length + 1).fill(0) },
    ]),
  );
  const summary: DashboardSummary = {
    at,
    durationBounds: bounds,
    requests: 0,
    tiers,
    refusals: {},
    spills: {},
    degraded: {},
    queueLength: {},
    sessionsLoaded: {},
    originUp: {},
    cache: {},
    hostsNotScraped: 0,
  };

  for (const [key, value] of Object.entries(totals.counters)) {
    const { name, labels } = parseSeriesKey(key);
    const tier = tiers[labels.tier ?? ""];
    if (name === FAMILIES.requests.name) {
      summary.requests += value;
      if (tier) tier.requests += value;
      if (tier && (labels.status === "429" || labels.status === "503")) tier.refused += value;
    } else if (name === FAMILIES.refusals.name) add(summary.refusals, labels.reason ?? "", value);
    else if (name === FAMILIES.spills.name) add(summary.spills, labels.reason ?? "", value);
    else if (name === FAMILIES.degraded.name) add(summary.degraded, labels.reason ?? "", value);
    else if (name === FAMILIES.cacheRequests.name) addCacheLookups(summary.cache, labels, value);
  }
  for (const [key, histogram] of Object.entries(totals.histograms)) {
    const { name, labels } = parseSeriesKey(key);
    const tier = tiers[labels.tier ?? ""];
    // Counts kept under other bounds would not line up (exposition.ts skips them too).
    if (name !== FAMILIES.requestDuration.name || !tier || histogram.counts.length !== bounds.length + 1) continue;
    histogram.counts.forEach((count, k) => (tier.durationCounts[k]! += count));
  }
  for (const gauge of gauges) {
    const replica = `${gauge.labels.model} ${gauge.labels.region}/${gauge.labels.replica}`;
    if (gauge.family === "queueLength") summary.queueLength[replica] = gauge.value;
    else if (gauge.family === "sessionsLoaded") summary.sessionsLoaded[replica] = gauge.value;
    else if (gauge.family === "originUp") summary.originUp[gauge.labels.origin ?? ""] = gauge.value;
    else if (gauge.family === "hostsNotScraped") summary.hostsNotScraped = gauge.value;
  }
  return summary;
}

function addCacheLookups(into: Record<string, CacheSummary>, labels: Labels, value: number): void {
  const model = (into[labels.model ?? ""] ??= { hits: 0, misses: 0, hitRatio: 0 });
  if (labels.result === "hit") model.hits += value;
  else model.misses += value;
  model.hitRatio = model.hits / (model.hits + model.misses);
}

function add(into: Record<string, number>, key: string, value: number): void {
  into[key] = (into[key] ?? 0) + value;
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** A series key as series.ts writes it (`name{label="value",...}`, values escaped) read back into its name and labels. */
export function parseSeriesKey(key: string): { name: string; labels: Labels } {
  const brace = key.indexOf("{");
  if (brace < 0) return { name: key, labels: {} };
  const labels: Labels = {};
  for (const [, label, value] of key.slice(brace + 1, -1).matchAll(LABEL)) labels[label!] = value!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  return { name: key.slice(0, brace), labels };
}
