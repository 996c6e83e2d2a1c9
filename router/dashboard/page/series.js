// @ts-check
/**
 * @module The dashboard's arithmetic, with no DOM in it (test/node/dashboard-series.test.ts runs
 * it in Node): the summary `GET /admin/metrics/summary` answers holds running totals, so each
 * chart point is the difference between two polls, and a rolling window of polls keeps five
 * minutes of points.
 *
 * Quantiles and SLO attainment come from the request-duration histogram's buckets (1 ms to 10 s)
 * as PromQL's histogram_quantile and histogram_fraction read a classic histogram: linear within
 * the bucket the value falls in, the first bucket starting at 0; a quantile in the +Inf bucket is
 * the highest finite bound. SLO attainment of a tier is the share of its requests answered within
 * its default deadline over the last minute, minus its 429 and 503 answers, which are fast but
 * not served (a 504 already lies past the deadline in the histogram).
 */

/** How much history the charts keep. */
export const WINDOW_MS = 5 * 60_000;
/** The span SLO attainment is measured over: one poll's few requests would make a jumpy line. */
export const SLO_WINDOW_MS = 60_000;

/**
 * @typedef {{ deadlineSeconds: number, requests: number, refused: number, durationCounts: number[] }} TierSummary
 * @typedef {{ at: number, durationBounds: number[], requests: number, tiers: Record<string, TierSummary>,
 *   refusals: Record<string, number>, spills: Record<string, number>, degraded?: Record<string, number>, queueLength: Record<string, number>,
 *   sessionsLoaded: Record<string, number>, originUp: Record<string, number>,
 *   cache?: Record<string, { hits: number, misses: number }> }} Summary
 * @typedef {Record<string, number | null>} Values
 * @typedef {{ t: number, p50: Values, p99: Values, throughput: Values, refusals: Values, spills: Values, degraded: Values,
 *   queueLength: Values, sessionsLoaded: Values, originUp: Values, slo: Values, cacheHitRatio: Values }} Point
 */

/**
 * The q-quantile of the observations in `counts` (per bucket, +Inf last), in the bounds' unit; null when there are none.
 * @param {number} q @param {readonly number[]} bounds @param {readonly number[]} counts
 * @returns {number | null}
 */
export function histogramQuantile(q, bounds, counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return null;
  const rank = q * total;
  let below = 0;
  for (let k = 0; k < counts.length; k++) {
    const count = counts[k] ?? 0;
    if (count > 0 && below + count >= rank) {
      if (k >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const lower = k === 0 ? 0 : (bounds[k - 1] ?? 0);
      const upper = bounds[k] ?? lower;
      return lower + ((upper - lower) * (rank - below)) / count;
    }
    below += count;
  }
  return bounds[bounds.length - 1] ?? null;
}

/**
 * How many of the observations were at most `limit` (linear within the bucket holding it; the +Inf bucket never is).
 * @param {number} limit @param {readonly number[]} bounds @param {readonly number[]} counts
 */
export function countWithin(limit, bounds, counts) {
  let within = 0;
  for (let k = 0; k < bounds.length; k++) {
    const upper = bounds[k] ?? 0;
    const lower = k === 0 ? 0 : (bounds[k - 1] ?? 0);
    const count = counts[k] ?? 0;
    if (upper <= limit) within += count;
    else {
      if (limit > lower) within += (count * (limit - lower)) / (upper - lower);
      break;
    }
  }
  return within;
}

/** @param {readonly number[]} now @param {readonly number[]} then */
function bucketDeltas(now, then) {
  return now.map((count, k) => Math.max(0, count - (then[k] ?? 0)));
}

/**
 * SLO attainment (0 to 1) of one tier between two summaries; null when it had no requests.
 * @param {TierSummary} now @param {TierSummary | undefined} then @param {readonly number[]} bounds
 */
export function sloAttainment(now, then, bounds) {
  const counts = bucketDeltas(now.durationCounts, then?.durationCounts ?? []);
  const requests = counts.reduce((a, b) => a + b, 0);
  if (requests <= 0) return null;
  const refused = Math.max(0, now.refused - (then?.refused ?? 0));
  return Math.max(0, countWithin(now.deadlineSeconds, bounds, counts) - refused) / requests;
}

/**
 * Per second, by key, between two maps of running totals (a total that went down, after a restart, counts as 0).
 * @param {Record<string, number>} now @param {Record<string, number>} then @param {number} seconds
 * @returns {Values}
 */
function ratesOf(now, then, seconds) {
  return Object.fromEntries(Object.entries(now).map(([key, value]) => [key, Math.max(0, value - (then[key] ?? 0)) / seconds]));
}

/**
 * Per model whose answers are cached: the share of its lookups since the previous poll that hit
 * (null when it had none), from the running totals of hits and misses.
 * @param {Record<string, { hits: number, misses: number }>} now @param {Record<string, { hits: number, misses: number }>} then
 * @returns {Values}
 */
function hitRatios(now, then) {
  return Object.fromEntries(
    Object.entries(now).map(([model, { hits, misses }]) => {
      const hitDelta = Math.max(0, hits - (then[model]?.hits ?? 0));
      const lookups = hitDelta + Math.max(0, misses - (then[model]?.misses ?? 0));
      return [model, lookups > 0 ? hitDelta / lookups : null];
    }),
  );
}

/**
 * The chart point for the newest summary: rates and latency quantiles since `previous`, SLO attainment since `sloBase`.
 * @param {Summary} previous @param {Summary} latest @param {Summary} sloBase
 * @returns {Point}
 */
export function pointBetween(previous, latest, sloBase) {
  const seconds = Math.max(0.001, (latest.at - previous.at) / 1000);
  const bounds = latest.durationBounds;
  /** @type {Point} */
  const point = {
    t: latest.at / 1000,
    p50: {},
    p99: {},
    throughput: { all: Math.max(0, latest.requests - previous.requests) / seconds },
    refusals: ratesOf(latest.refusals, previous.refusals, seconds),
    spills: ratesOf(latest.spills, previous.spills, seconds),
    degraded: ratesOf(latest.degraded ?? {}, previous.degraded ?? {}, seconds),
    queueLength: { ...latest.queueLength },
    sessionsLoaded: { ...latest.sessionsLoaded },
    originUp: { ...latest.originUp },
    slo: {},
    cacheHitRatio: hitRatios(latest.cache ?? {}, previous.cache ?? {}),
  };
  for (const [tier, now] of Object.entries(latest.tiers)) {
    const then = previous.tiers[tier];
    const counts = bucketDeltas(now.durationCounts, then?.durationCounts ?? []);
    point.p50[tier] = histogramQuantile(0.5, bounds, counts);
    point.p99[tier] = histogramQuantile(0.99, bounds, counts);
    point.throughput[tier] = Math.max(0, now.requests - (then?.requests ?? 0)) / seconds;
    point.slo[tier] = sloAttainment(now, sloBase.tiers[tier], bounds);
  }
  return point;
}

/** The summaries polled and the points made from them, each kept for its window. */
export class History {
  /** @type {Summary[]} */
  summaries = [];
  /** @type {Point[]} */
  points = [];

  /** Adds a poll's summary; returns the new point, or undefined for the first summary (nothing to compare yet). @param {Summary} summary */
  add(summary) {
    const previous = this.summaries.at(-1);
    this.summaries.push(summary);
    while (this.summaries.length > 2 && (this.summaries[1]?.at ?? 0) <= summary.at - SLO_WINDOW_MS) this.summaries.shift();
    if (!previous) return undefined;
    const point = pointBetween(previous, summary, this.summaries[0] ?? previous);
    this.points.push(point);
    while (this.points.length > 0 && (this.points[0]?.t ?? 0) * 1000 < summary.at - WINDOW_MS) this.points.shift();
    return point;
  }
}
