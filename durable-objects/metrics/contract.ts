/**
 * @module What a router isolate sends the Metrics object (one batch of the requests it finished
 * since its last flush) and what the object gives back (the totals). A series is named as the
 * Prometheus text format writes it, `name{label="value",...}`, so the object adds numbers up
 * without knowing any metric, and the router renders its keys as they are.
 */
import type { UsageRow } from "./usage-contract.ts";

/** A histogram's counts per bucket (not cumulative; the last is the +Inf bucket) and the sum of what it observed. */
export interface HistogramCounts {
  counts: number[];
  sum: number;
}

export interface MetricsBatch {
  /** Unique per isolate and batch: a flush retried after a lost answer is applied once. */
  id: string;
  counters: Record<string, number>;
  histograms: Record<string, HistogramCounts>;
  /** ModelHosts (`<region>:<model>:<replica>`) that answered requests: the scrape asks them for their gauges. */
  hosts: string[];
  /** Tenants (with their tier) that opened live streams: the scrape asks their StreamSlots how many are open. */
  streamTenants: Record<string, string>;
  /** Per-tenant usage since the last batch (usage-contract.ts); absent from isolates older than usage. */
  usage?: UsageRow[];
}

export interface MetricsTotals {
  counters: Record<string, number>;
  histograms: Record<string, HistogramCounts>;
  /** Hosts seen recently (see Metrics.totals), by name, most recently seen first, at most the number the scrape asked for. */
  hosts: string[];
  /** Every host seen recently, those left out of `hosts` included. */
  hostsSeen: number;
  /** Tenant -> tier, of the tenants that opened a stream recently enough for one to be open still. */
  streamTenants: Record<string, string>;
}

/** The one Metrics object's name: one object holds the totals of every isolate. */
export const METRICS_NAME = "metrics";
