/**
 * @module What the `variants` scenario counts in each overload run: requests sent, served within
 * the deadline (200 and the client's latency within it: the client waits for the whole answer, so
 * that is the latency that matters), the share of answers a variant gave, refusals, latency of
 * what was served. Pure functions of the outcomes, so a test can check the counting.
 */
import type { Outcome } from "./load.ts";
import { percentile } from "./stats.ts";

export interface OverloadSummary {
  sent: number;
  served: number;
  /** 200 and client latency <= the deadline. */
  withinDeadline: number;
  /** Answers (200) that a variant gave. */
  degraded: number;
  /** Degraded answers by reason (deadline, unavailable, refused). */
  reasons: Record<string, number>;
  refused503: number;
  refused429: number;
  /** The router's or the origin's deadline passed before an answer. */
  expired504: number;
  /** Client timeouts, network errors and any other status. */
  other: number;
  /** Client latency of the 200s, ms. */
  p50: number;
  p99: number;
}

export function summarizeOverload(outcomes: readonly Outcome[], deadlineMs: number): OverloadSummary {
  const served = outcomes.filter((o) => o.status === 200);
  const reasons: Record<string, number> = {};
  let degraded = 0;
  for (const o of served) {
    if (answeredVariant(o) === undefined) continue;
    degraded++;
    const reason = degradedReason(o) ?? "pinned";
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  }
  const refused503 = outcomes.filter((o) => o.status === 503).length;
  const refused429 = outcomes.filter((o) => o.status === 429).length;
  const expired504 = outcomes.filter((o) => o.status === 504).length;
  const latencies = served.map((o) => o.latencyMs);
  return {
    sent: outcomes.length,
    served: served.length,
    withinDeadline: served.filter((o) => o.latencyMs <= deadlineMs).length,
    degraded,
    reasons,
    refused503,
    refused429,
    expired504,
    other: outcomes.length - served.length - refused503 - refused429 - expired504,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

/** Several runs of one setting as one (the rounds share nothing but the setting). */
export function mergeSummaries(list: readonly { outcomes: readonly Outcome[] }[], deadlineMs: number): OverloadSummary {
  return summarizeOverload(
    list.flatMap((r) => r.outcomes),
    deadlineMs,
  );
}

/** Served within the deadline with degradation over without: the headline (NaN when "without" served none). */
export function withinDeadlineRatio(withDegradation: OverloadSummary, without: OverloadSummary): number {
  return without.withinDeadline > 0 ? withDegradation.withinDeadline / without.withinDeadline : Number.NaN;
}

/** The variant that answered (Server-Timing `variant;desc=...`), undefined for the default's answers. */
export function answeredVariant(outcome: Outcome): string | undefined {
  return /(?:^|,)\s*variant;desc="?([^",;]+)/.exec(outcome.timing ?? "")?.[1];
}

/** Why the answer was degraded (Server-Timing `degraded;desc=...`: deadline, unavailable, refused). */
export function degradedReason(outcome: Outcome): string | undefined {
  return /(?:^|,)\s*degraded;desc="?([^",;]+)/.exec(outcome.timing ?? "")?.[1];
}
