/**
 * @module The dashboard page's arithmetic (router/dashboard/page/series.js, the file the browser
 * runs): quantiles and the share within a deadline read from histogram buckets as PromQL reads a
 * classic histogram, SLO attainment with fast refusals counted as misses, points made from the
 * differences between two polls, and the rolling windows.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DashboardSummary, TierSummary } from "../../router/dashboard/summary.ts";

type Summary = DashboardSummary;
type Values = Record<string, number | null>;
interface Point {
  t: number;
  p50: Values;
  p99: Values;
  throughput: Values;
  refusals: Values;
  slo: Values;
  queueLength: Values;
  cacheHitRatio: Values;
  degraded: Values;
}
interface SeriesModule {
  WINDOW_MS: number;
  SLO_WINDOW_MS: number;
  histogramQuantile(q: number, bounds: readonly number[], counts: readonly number[]): number | null;
  countWithin(limit: number, bounds: readonly number[], counts: readonly number[]): number;
  sloAttainment(now: TierSummary, then: TierSummary | undefined, bounds: readonly number[]): number | null;
  History: new () => { points: Point[]; summaries: Summary[]; add(summary: Summary): Point | undefined };
}

// A browser script, untyped for tsc: loaded through a computed specifier and held to the interface above.
const SERIES_JS = new URL("../../router/dashboard/page/series.js", import.meta.url).href;
const series = (await import(SERIES_JS)) as SeriesModule;

const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const counts = (entries: Record<number, number>) => Array.from({ length: BOUNDS.length + 1 }, (_, k) => entries[k] ?? 0);
const close = (actual: number | null, expected: number, what: string) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);

test("quantiles interpolate within the bucket, start the first bucket at 0 and stop at the highest finite bound", () => {
  // 10 requests in (0.1, 0.25]: the median is halfway through that bucket.
  close(series.histogramQuantile(0.5, BOUNDS, counts({ 7: 10 })), 0.175, "p50 in one bucket");
  // 100 requests: 90 in (0, 1 ms], 10 in (0.5, 1]: p50 in the first bucket, p99 near the top of (0.5, 1].
  close(series.histogramQuantile(0.5, BOUNDS, counts({ 0: 90, 9: 10 })), (0.001 * 50) / 90, "p50 in the first bucket");
  close(series.histogramQuantile(0.99, BOUNDS, counts({ 0: 90, 9: 10 })), 0.5 + (0.5 * 9) / 10, "p99");
  assert.equal(series.histogramQuantile(0.99, BOUNDS, counts({ 13: 4 })), 10, "the +Inf bucket reads as the highest bound");
  assert.equal(series.histogramQuantile(0.5, BOUNDS, counts({})), null, "no requests, no quantile");
});

test("the share within a deadline counts whole buckets below it and a linear part of the one it falls in", () => {
  assert.equal(series.countWithin(1, BOUNDS, counts({ 8: 3, 9: 4, 10: 5 })), 7, "1 s is a bound: (0.5, 1] is all in");
  close(series.countWithin(2, BOUNDS, counts({ 9: 4, 10: 6 })), 4 + (6 * 1) / 1.5, "2 s is two thirds into (1, 2.5]");
  assert.equal(series.countWithin(20, BOUNDS, counts({ 12: 2, 13: 3 })), 2, "the +Inf bucket is never within");
});

test("SLO attainment: requests within the deadline, less the fast 429 and 503 answers, over all requests of the span", () => {
  const then: TierSummary = { deadlineSeconds: 1, requests: 10, refused: 1, durationCounts: counts({ 0: 10 }) };
  // Since then: 8 fast requests (2 of them refused) and 2 past the deadline.
  const now: TierSummary = { deadlineSeconds: 1, requests: 20, refused: 3, durationCounts: counts({ 0: 18, 11: 2 }) };
  close(series.sloAttainment(now, then, BOUNDS), (8 - 2) / 10, "attainment");
  assert.equal(series.sloAttainment(now, now, BOUNDS), null, "no requests in the span");
});

function summary(at: number, requests: number, fast: number, slow: number, queued = 0): Summary {
  const premium = { deadlineSeconds: 1, requests, refused: 0, durationCounts: counts({ 2: fast, 11: slow }) };
  return {
    at,
    durationBounds: BOUNDS,
    requests,
    tiers: { premium },
    refusals: { rate: 0 },
    spills: {},
    degraded: {},
    queueLength: { "m eu/0": queued },
    sessionsLoaded: {},
    originUp: {},
    cache: {},
    hostsNotScraped: 0,
  };
}

test("a point is the difference between two polls: rates per second, quantiles of the new requests, the gauges as they are", () => {
  const history = new series.History();
  assert.equal(history.add(summary(1_000_000, 100, 100, 0)), undefined, "the first poll has nothing to compare with");
  const point = history.add(summary(1_002_000, 140, 120, 20, 3))!;
  assert.equal(point.t, 1002);
  assert.equal(point.throughput.all, 20, "40 requests in 2 s");
  assert.equal(point.throughput.premium, 20);
  close(point.p50.premium!, 0.005, "half of the 40 new ones are in (2.5 ms, 5 ms]: the median is that bucket's top");
  close(point.p99.premium!, 2.5 + 2.5 * ((0.99 * 40 - 20) / 20), "p99 among the slow ones");
  assert.equal(point.queueLength["m eu/0"], 3);
  assert.equal(point.refusals.rate, 0);
  // SLO over everything since the first poll: 20 of the 40 new requests within 1 s.
  assert.equal(point.slo.premium, 0.5);
  // A total that went down (a restarted store) counts as nothing, never as a negative rate.
  assert.equal(history.add(summary(1_003_000, 10, 10, 0))!.throughput.all, 0);
});

test("points older than the window and polls older than the SLO span are dropped", () => {
  const history = new series.History();
  const step = 1_000;
  const polls = series.WINDOW_MS / step + 30;
  for (let k = 0; k <= polls; k++) history.add(summary(k * step, k * 10, k * 10, 0));
  assert.ok(history.points.length <= series.WINDOW_MS / step + 1, `${history.points.length} points kept`);
  assert.equal(history.points.at(-1)!.t, polls);
  assert.ok(history.points[0]!.t * 1000 >= polls * step - series.WINDOW_MS);
  const span = history.summaries.at(-1)!.at - history.summaries[0]!.at;
  assert.ok(span >= series.SLO_WINDOW_MS && span < series.SLO_WINDOW_MS + 2 * step, `SLO span ${span} ms`);
});

test("the cache and degraded figures: each caching model's hit share since the last poll (none without lookups), degraded requests per second", () => {
  const history = new series.History();
  const withCache = (at: number, cache: Summary["cache"], degraded: Record<string, number>) => ({ ...summary(at, 0, 0, 0), cache, degraded });
  history.add(withCache(1_000_000, { tiny: { hits: 10, misses: 10, hitRatio: 0.5 } }, { unavailable: 4 }));
  const point = history.add(
    withCache(1_001_000, { tiny: { hits: 16, misses: 12, hitRatio: 16 / 28 }, fresh: { hits: 0, misses: 0, hitRatio: 0 } }, { unavailable: 10, refused: 3 }),
  )!;
  assert.deepEqual(point.degraded, { unavailable: 6, refused: 3 }, "degraded requests per second, by reason");
  close(point.cacheHitRatio.tiny!, 6 / 8, "6 hits and 2 misses since the last poll");
  assert.equal(point.cacheHitRatio.fresh, null, "no lookups, no ratio");
});
