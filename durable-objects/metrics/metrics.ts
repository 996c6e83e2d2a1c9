/**
 * @module Metrics: the one Durable Object that adds up what every router isolate counted, so
 * `GET /metrics` counts each request once whichever isolate served it. Isolates aggregate in
 * memory and send a batch about once a second (router/metrics/flush.ts); each batch carries an
 * id, remembered here for an hour, so a batch sent again after its answer was lost is not added
 * twice. Counters and histograms are kept in SQLite, so a restart of this object loses nothing.
 *
 * Per-tenant usage rides in the same batches (usage-table.ts): one call, one id and one
 * transaction for both, so usage inherits the exactly-once apply and costs no second object or
 * round trip; a sibling object would need ids, retries and a flush loop of its own.
 *
 * Its load is one call per isolate per second at most, plus one per scrape, far below what one
 * object serves; the writes per batch are one row per series the batch touched.
 */
import { DurableObject } from "cloudflare:workers";
import type { HistogramCounts, MetricsBatch, MetricsTotals } from "./contract.ts";
import type { UsageQuery, UsageReport } from "./usage-contract.ts";
import { addUsage, createUsageTable, readUsage } from "./usage-table.ts";

/** How long a batch id is remembered: far longer than any isolate keeps retrying one. */
const BATCH_ID_TTL_MS = 60 * 60 * 1000;
/** Hosts silent this long are no longer asked for gauges at a scrape (they hold no queue). */
const HOST_TTL_MS = 15 * 60 * 1000;
/** A stream lives at most twice the longest tier's audio plus an idle timeout (function-stream.ts): about two hours. */
const STREAM_TENANT_TTL_MS = 3 * 60 * 60 * 1000;

export class Metrics extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS counters (series TEXT PRIMARY KEY, value REAL NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS histograms (series TEXT PRIMARY KEY, counts TEXT NOT NULL, sum REAL NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, at INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS hosts (name TEXT PRIMARY KEY, seen INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS stream_tenants (tenant TEXT PRIMARY KEY, tier TEXT NOT NULL, seen INTEGER NOT NULL)`);
    createUsageTable(this.#sql);
  }

  /** Adds a batch to the totals, once: false when a batch with its id was already applied. */
  apply(batch: MetricsBatch): boolean {
    const now = Date.now();
    return this.ctx.storage.transactionSync(() => {
      if (this.#sql.exec(`SELECT 1 FROM batches WHERE id = ?`, batch.id).toArray().length > 0) return false;
      this.#sql.exec(`INSERT INTO batches (id, at) VALUES (?, ?)`, batch.id, now);
      for (const [series, value] of Object.entries(batch.counters)) {
        this.#sql.exec(`INSERT INTO counters (series, value) VALUES (?, ?) ON CONFLICT (series) DO UPDATE SET value = value + excluded.value`, series, value);
      }
      for (const [series, histogram] of Object.entries(batch.histograms)) this.#addHistogram(series, histogram);
      for (const name of batch.hosts) {
        this.#sql.exec(`INSERT INTO hosts (name, seen) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seen = excluded.seen`, name, now);
      }
      for (const [tenant, tier] of Object.entries(batch.streamTenants)) {
        this.#sql.exec(
          `INSERT INTO stream_tenants (tenant, tier, seen) VALUES (?, ?, ?) ON CONFLICT (tenant) DO UPDATE SET tier = excluded.tier, seen = excluded.seen`,
          tenant,
          tier,
          now,
        );
      }
      addUsage(this.#sql, batch.usage ?? []);
      this.#sql.exec(`DELETE FROM batches WHERE at < ?`, now - BATCH_ID_TTL_MS);
      return true;
    });
  }

  /**
   * Every counter and histogram, with the hosts and stream tenants a scrape should ask for live
   * gauges: at most `maxHosts` hosts, the most recently seen first (all when it is not given),
   * and how many were seen in all, so a scrape's fan-out stays bounded however many there are.
   */
  totals(maxHosts?: number): MetricsTotals {
    const now = Date.now();
    const counters: Record<string, number> = {};
    for (const row of this.#sql.exec<{ series: string; value: number }>(`SELECT series, value FROM counters`)) counters[row.series] = row.value;
    const histograms: Record<string, HistogramCounts> = {};
    for (const row of this.#sql.exec<{ series: string; counts: string; sum: number }>(`SELECT series, counts, sum FROM histograms`)) {
      histograms[row.series] = { counts: JSON.parse(row.counts) as number[], sum: row.sum };
    }
    const seenSince = now - HOST_TTL_MS;
    const hostsSeen = this.#sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM hosts WHERE seen >= ?`, seenSince).one().n;
    // SQLite reads LIMIT -1 as no limit.
    const limit = maxHosts !== undefined && Number.isInteger(maxHosts) && maxHosts >= 0 ? maxHosts : -1;
    const hosts = this.#sql
      .exec<{ name: string }>(`SELECT name FROM hosts WHERE seen >= ? ORDER BY seen DESC, name LIMIT ?`, seenSince, limit)
      .toArray()
      .map((row) => row.name);
    const streamTenants: Record<string, string> = {};
    for (const row of this.#sql.exec<{ tenant: string; tier: string }>(`SELECT tenant, tier FROM stream_tenants WHERE seen >= ?`, now - STREAM_TENANT_TTL_MS)) {
      streamTenants[row.tenant] = row.tier;
    }
    return { counters, histograms, hosts, hostsSeen, streamTenants };
  }

  /** Per-tenant usage (usage-table.ts): days from `from` to `to`, one tenant or all. */
  usage(query: UsageQuery): UsageReport {
    return readUsage(this.#sql, query);
  }

  /** The request counters alone (`hotpath_requests_total{...}`), for the Alerts object's evaluation: no histograms. */
  requestCounters(): Record<string, number> {
    const counters: Record<string, number> = {};
    for (const row of this.#sql.exec<{ series: string; value: number }>(`SELECT series, value FROM counters WHERE series LIKE 'hotpath_requests_total%'`)) {
      counters[row.series] = row.value;
    }
    return counters;
  }

  #addHistogram(series: string, added: HistogramCounts): void {
    const row = this.#sql.exec<{ counts: string; sum: number }>(`SELECT counts, sum FROM histograms WHERE series = ?`, series).toArray()[0];
    const held = row ? (JSON.parse(row.counts) as number[]) : [];
    // Bucket bounds changed by a deploy: the old counts no longer line up, so the series starts again (Prometheus reads it as a reset).
    const base = held.length === added.counts.length ? held : added.counts.map(() => 0);
    const counts = base.map((count, k) => count + added.counts[k]!);
    const sum = (held.length === added.counts.length ? (row?.sum ?? 0) : 0) + added.sum;
    this.#sql.exec(
      `INSERT INTO histograms (series, counts, sum) VALUES (?, ?, ?) ON CONFLICT (series) DO UPDATE SET counts = excluded.counts, sum = excluded.sum`,
      series,
      JSON.stringify(counts),
      sum,
    );
  }
}
