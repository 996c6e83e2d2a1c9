/**
 * @module This isolate's counts since its last flush: counter increments and histogram bucket
 * counts, in memory, so recording a request costs a few map updates and no I/O. `takeBatch`
 * hands them over, with the per-tenant usage (usage.ts), as one batch with a fresh id and starts again from zero (flush.ts sends it).
 */
import type { HistogramCounts, MetricsBatch } from "../../durable-objects/metrics/contract.ts";
import { FAMILIES, type FamilyKey } from "./families.ts";
import { seriesKey, type Labels } from "./series.ts";
import { hasUsage, takeUsage } from "./usage.ts";

/**
 * Names this isolate's batches apart from every other isolate's. Made on the first batch, not at
 * load: workerd refuses random values in the global scope, and `wrangler dev` then will not start.
 */
let isolateId: string | undefined;
let batchSequence = 0;

let counters = new Map<string, number>();
let histograms = new Map<string, HistogramCounts>();
let hosts = new Set<string>();
let streamTenants = new Map<string, string>();

export function increment(family: FamilyKey, labels: Labels, by = 1): void {
  const key = seriesKey(FAMILIES[family].name, labels);
  counters.set(key, (counters.get(key) ?? 0) + by);
}

export function observe(family: FamilyKey, labels: Labels, value: number): void {
  const bounds: readonly number[] = (FAMILIES[family] as { buckets?: readonly number[] }).buckets ?? [];
  const key = seriesKey(FAMILIES[family].name, labels);
  let histogram = histograms.get(key);
  if (!histogram) histograms.set(key, (histogram = { counts: new Array<number>(bounds.length + 1).fill(0), sum: 0 }));
  // The first bucket whose bound is at least the value (Prometheus's `le`); past the last, +Inf.
  let bucket = bounds.findIndex((bound) => value <= bound);
  if (bucket < 0) bucket = bounds.length;
  histogram.counts[bucket]! += 1;
  histogram.sum += value;
}

/** A ModelHost that answered a request: the scrape will ask it for its gauges. */
export function sawHost(name: string): void {
  hosts.add(name);
}

/** A tenant that opened a live stream: the scrape will ask its StreamSlots how many are open. */
export function sawStreamTenant(tenant: string, tier: string): void {
  streamTenants.set(tenant, tier);
}

/** Whether anything was recorded since the last batch was taken. */
export function hasPending(): boolean {
  return counters.size > 0 || histograms.size > 0 || hosts.size > 0 || streamTenants.size > 0 || hasUsage();
}

/** What was recorded since the last call, as one batch with its own id; undefined when nothing was. */
export function takeBatch(): MetricsBatch | undefined {
  if (!hasPending()) return undefined;
  const batch: MetricsBatch = {
    id: `${(isolateId ??= crypto.randomUUID())}:${++batchSequence}`,
    counters: Object.fromEntries(counters),
    histograms: Object.fromEntries(histograms),
    hosts: [...hosts],
    streamTenants: Object.fromEntries(streamTenants),
    usage: takeUsage(),
  };
  counters = new Map();
  histograms = new Map();
  hosts = new Set();
  streamTenants = new Map();
  return batch;
}
