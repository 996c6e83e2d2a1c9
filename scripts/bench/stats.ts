/** @module Summaries of request outcomes: percentiles, status counts, and number formatting for the tables. */
import type { Outcome } from "./load.ts";

/** Nearest-rank percentile (p in [0, 1]) of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  count: number;
  ok: number;
  /** ok / count */
  successRate: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Status code (0: no answer) -> count. */
  statuses: Record<string, number>;
  /** Refusals (429/503) that carried a Retry-After header. */
  refusalsWithRetryAfter: number;
  refusals: number;
}

/** Latency percentiles are over successful (200) answers only. */
export function summarize(outcomes: readonly Outcome[]): Summary {
  const ok = outcomes.filter((o) => o.status === 200);
  const latencies = ok.map((o) => o.latencyMs);
  const statuses: Record<string, number> = {};
  for (const o of outcomes) statuses[String(o.status)] = (statuses[String(o.status)] ?? 0) + 1;
  const refused = outcomes.filter((o) => o.status === 429 || o.status === 503);
  return {
    count: outcomes.length,
    ok: ok.length,
    successRate: outcomes.length ? ok.length / outcomes.length : Number.NaN,
    p50: percentile(latencies, 0.5),
    p90: percentile(latencies, 0.9),
    p99: percentile(latencies, 0.99),
    max: latencies.length ? Math.max(...latencies) : Number.NaN,
    statuses,
    refusals: refused.length,
    refusalsWithRetryAfter: refused.filter((o) => o.retryAfter !== undefined).length,
  };
}

export function ms(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

export function pct(value: number, digits = 1): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : "n/a";
}

export function ratio(value: number): string {
  return Number.isFinite(value) ? value.toFixed(2) : "n/a";
}

/** A markdown table from a header row and rows of cells. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ("l" | "r")[]): string {
  const rule = header.map((_, k) => ((align?.[k] ?? (k === 0 ? "l" : "r")) === "r" ? "---:" : "---"));
  return [header, rule, ...rows].map((row) => `| ${row.join(" | ")} |`).join("\n");
}

/** One timed round of a closed loop at saturation. */
export interface Round {
  throughput: number;
  outcomes: Outcome[];
}

/** Rounds of one setting: median throughput, latencies, rows per run (Server-Timing batch) and the run time. */
export function describeRounds(list: readonly Round[]) {
  const outcomes = list.flatMap((r) => r.outcomes);
  const ok = outcomes.filter((o) => o.status === 200);
  const batches = ok.map((o) => o.batch ?? 1);
  return {
    throughput: percentile(
      list.map((r) => r.throughput),
      0.5,
    ),
    throughputs: list.map((r) => Math.round(r.throughput * 10) / 10),
    requests: outcomes.length,
    failed: outcomes.length - ok.length,
    p50: percentile(
      ok.map((o) => o.latencyMs),
      0.5,
    ),
    p99: percentile(
      ok.map((o) => o.latencyMs),
      0.99,
    ),
    meanBatch: batches.reduce((a, b) => a + b, 0) / Math.max(1, batches.length),
    inferP50: percentile(
      ok.flatMap((o) => (o.server?.infer === undefined ? [] : [o.server.infer])),
      0.5,
    ),
  };
}

/** The commonest error messages (numbers masked), so a run's refusals say why. */
export function topMessages(outcomes: readonly Outcome[], top = 3): [string, number][] {
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    if (o.status === 200) continue;
    const message = `${o.status} ${(o.message ?? o.error ?? "").replace(/\d+(\.\d+)?/g, "N")}`;
    counts.set(message, (counts.get(message) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
}
