/**
 * @module What `hotpath status` shows, as data: the dashboard's figures made the dashboard's way.
 * `GET /admin/metrics/summary` holds running totals and gauges; the page's own arithmetic
 * (router/dashboard/page/series.js, plain JavaScript the browser runs, loaded here unchanged)
 * turns two polls into rates, latency quantiles and SLO attainment, so the terminal and the
 * browser can never disagree about what a figure means.
 */
import type { DashboardSummary } from "../../../router/dashboard/summary.ts";

/** The body of `GET /admin/metrics/summary`: the router's own declaration, so the two cannot drift. */
export type Summary = DashboardSummary;

type Values = Record<string, number | null>;

/** A chart point as series.js makes it: rates and quantiles between two polls, SLO over the last minute. */
export interface Point {
  t: number;
  p50: Values;
  p99: Values;
  throughput: Values;
  refusals: Values;
  spills: Values;
  slo: Values;
}

export interface SummaryHistory {
  summaries: Summary[];
  add(summary: Summary): Point | undefined;
}

interface SeriesModule {
  History: new () => SummaryHistory;
}

// The browser's script, untyped for tsc: loaded through a computed specifier and held to the interface above.
const SERIES_JS = new URL("../../../router/dashboard/page/series.js", import.meta.url).href;
const series = (await import(SERIES_JS)) as SeriesModule;

export const newHistory = (): SummaryHistory => new series.History();

export interface TierStatus {
  /** Running totals since the metrics store began. */
  requests: number;
  refused: number;
  /** Requests per second over the last poll interval. */
  perSecond: number | null;
  /** Seconds, over the last poll interval; null when it had no requests. */
  p50: number | null;
  p99: number | null;
  /** Share answered within `deadlineSeconds` over the last minute of polls; null when there were none. */
  slo: number | null;
  deadlineSeconds: number;
}

export interface CountStatus {
  total: number;
  perSecond: number | null;
}

/** One snapshot: what `--json` prints and the live view draws. Rates are null until a second poll. */
export interface StatusSnapshot {
  at: string;
  requests: CountStatus;
  tiers: Record<string, TierStatus>;
  refusals: Record<string, CountStatus>;
  spills: Record<string, CountStatus>;
  /** Per replica (`<model> <region>/<replica>`): its queue length and warm sessions. */
  replicas: Record<string, { queueLength: number | null; sessionsLoaded: number | null }>;
  origins: Record<string, "up" | "down">;
}

const rate = (point: Point | undefined, values: keyof Point, key: string): number | null => {
  const value = point?.[values];
  return typeof value === "object" ? (value[key] ?? null) : null;
};

function counts(totals: Record<string, number>, point: Point | undefined, values: "refusals" | "spills"): Record<string, CountStatus> {
  return Object.fromEntries(Object.entries(totals).map(([key, total]) => [key, { total, perSecond: rate(point, values, key) }]));
}

/** The snapshot of the latest summary, with the point series.js made from it (undefined after a single poll). */
export function snapshotOf(summary: Summary, point: Point | undefined): StatusSnapshot {
  const replicas: StatusSnapshot["replicas"] = {};
  for (const name of new Set([...Object.keys(summary.queueLength), ...Object.keys(summary.sessionsLoaded)]).values()) {
    replicas[name] = { queueLength: summary.queueLength[name] ?? null, sessionsLoaded: summary.sessionsLoaded[name] ?? null };
  }
  return {
    at: new Date(summary.at).toISOString(),
    requests: { total: summary.requests, perSecond: rate(point, "throughput", "all") },
    tiers: Object.fromEntries(
      Object.entries(summary.tiers).map(([tier, figures]) => [
        tier,
        {
          requests: figures.requests,
          refused: figures.refused,
          perSecond: rate(point, "throughput", tier),
          p50: rate(point, "p50", tier),
          p99: rate(point, "p99", tier),
          slo: rate(point, "slo", tier),
          deadlineSeconds: figures.deadlineSeconds,
        },
      ]),
    ),
    refusals: counts(summary.refusals, point, "refusals"),
    spills: counts(summary.spills, point, "spills"),
    replicas,
    origins: Object.fromEntries(Object.entries(summary.originUp).map(([origin, up]) => [origin, up >= 1 ? "up" : "down"])),
  };
}
