/**
 * @module What a rule measures over its window, from snapshots of the Metrics object's request
 * counters taken at each evaluation: the counts now less those at the start of the window (the
 * latest snapshot at least a window old, else the oldest kept, so a young history measures what
 * it has). Counters only grow; a drop (the store was reset) counts as zero, not as a negative.
 */
import type { ErrorRateRule, SloRule } from "./contract.ts";

/** requests, 2xx, 5xx */
type Counts = [number, number, number];
/** Per `tier\tmodel`: what the request counters say, summed over every other label. */
export type Snapshot = Record<string, Counts>;

export interface TakenSnapshot {
  at: number;
  counts: Snapshot;
}

const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** A snapshot of `hotpath_requests_total{...}` series (router/metrics/series.ts writes their keys). */
export function snapshotOf(counters: Record<string, number>): Snapshot {
  const snapshot: Snapshot = {};
  for (const [series, value] of Object.entries(counters)) {
    const labels: Record<string, string> = {};
    for (const [, name, raw] of series.matchAll(LABEL)) labels[name!] = raw!.replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    const key = `${labels.tier ?? ""}\t${labels.model ?? ""}`;
    const counts = (snapshot[key] ??= [0, 0, 0]);
    const status = Number(labels.status);
    counts[0] += value;
    if (status >= 200 && status < 300) counts[1] += value;
    if (status >= 500) counts[2] += value;
  }
  return snapshot;
}

/** Requests, 2xx and 5xx over the last `windowSeconds` for the tier and model a rule names; undefined with under two snapshots. */
export function windowCounts(history: readonly TakenSnapshot[], windowSeconds: number, scope: { tier?: string; model?: string }): Counts | undefined {
  const now = history.at(-1);
  if (!now || history.length < 2) return undefined;
  const startAt = now.at - windowSeconds * 1000;
  const start = history.findLast((snapshot) => snapshot.at <= startAt) ?? history[0]!;
  const counts: Counts = [0, 0, 0];
  for (const [key, current] of Object.entries(now.counts)) {
    const [tier, model] = key.split("\t");
    if ((scope.tier !== undefined && tier !== scope.tier) || (scope.model !== undefined && model !== scope.model)) continue;
    const before = start.counts[key] ?? [0, 0, 0];
    for (let k = 0; k < 3; k++) counts[k] = counts[k]! + Math.max(0, current[k]! - before[k]!);
  }
  return counts;
}

/** The rule's value over its window (null: too few answers to say) and whether it holds. */
export function measure(rule: SloRule | ErrorRateRule, history: readonly TakenSnapshot[]): { value: number | null; holds: boolean } {
  const counts = windowCounts(history, rule.window_seconds, { tier: rule.tier, model: rule.model });
  if (!counts) return { value: null, holds: false };
  const [requests, ok, serverErrors] = counts;
  if (rule.kind === "error_rate") {
    if (requests < rule.min_requests) return { value: null, holds: false };
    const value = serverErrors / requests;
    return { value, holds: value > rule.threshold };
  }
  // 4xx and 429 are the caller's doing: the SLO counts the answers the platform owed in time.
  const owed = ok + serverErrors;
  if (owed < rule.min_requests) return { value: null, holds: false };
  const value = ok / owed;
  return { value, holds: value < rule.threshold };
}
