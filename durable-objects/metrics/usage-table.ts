/**
 * @module The usage table in the Metrics object's SQLite: one row per UTC day, tenant and model,
 * added to inside the transaction that applies a metrics batch, so usage is applied exactly as
 * often as the batch is: once, whatever the retries.
 */
import { noUsage, USAGE_FIGURES, type UsageQuery, type UsageReport, type UsageRow } from "./usage-contract.ts";

/** Rows one answer carries at most; the totals still cover every matching row. */
export const USAGE_MAX_ROWS = 10_000;

const COLUMNS = { requests: "requests", rows: "rows", inferenceMs: "inference_ms", bytesIn: "bytes_in", bytesOut: "bytes_out" } as const;

export function createUsageTable(sql: SqlStorage): void {
  sql.exec(
    `CREATE TABLE IF NOT EXISTS usage (day TEXT NOT NULL, tenant TEXT NOT NULL, model TEXT NOT NULL,
       requests INTEGER NOT NULL, rows INTEGER NOT NULL, inference_ms REAL NOT NULL, bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL,
       PRIMARY KEY (day, tenant, model))`,
  );
}

/** Adds a batch's usage rows; call inside the batch's transaction. */
export function addUsage(sql: SqlStorage, rows: readonly UsageRow[]): void {
  for (const row of rows) {
    sql.exec(
      `INSERT INTO usage (day, tenant, model, requests, rows, inference_ms, bytes_in, bytes_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (day, tenant, model) DO UPDATE SET requests = requests + excluded.requests, rows = rows + excluded.rows,
         inference_ms = inference_ms + excluded.inference_ms, bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out`,
      row.day,
      row.tenant,
      row.model,
      row.requests,
      row.rows,
      row.inferenceMs,
      row.bytesIn,
      row.bytesOut,
    );
  }
}

interface StoredRow {
  day: string;
  tenant: string;
  model: string;
  requests: number;
  rows: number;
  inference_ms: number;
  bytes_in: number;
  bytes_out: number;
  [column: string]: SqlStorageValue;
}

/** The rows from `from` to `to` (days, inclusive), of one tenant or all, ordered by day, tenant, model; and their totals. */
export function readUsage(sql: SqlStorage, query: UsageQuery): UsageReport {
  const where = `day >= ? AND day <= ?${query.tenant === undefined ? "" : " AND tenant = ?"}`;
  const params = query.tenant === undefined ? [query.from, query.to] : [query.from, query.to, query.tenant];
  const stored = sql.exec<StoredRow>(`SELECT * FROM usage WHERE ${where} ORDER BY day, tenant, model LIMIT ?`, ...params, USAGE_MAX_ROWS + 1).toArray();
  const rows = stored.slice(0, USAGE_MAX_ROWS).map((row) => {
    const figures = noUsage();
    for (const figure of USAGE_FIGURES) figures[figure] = Number(row[COLUMNS[figure]]);
    return { day: row.day, tenant: row.tenant, model: row.model, ...figures };
  });
  const sums = USAGE_FIGURES.map((figure) => `COALESCE(SUM(${COLUMNS[figure]}), 0) AS ${COLUMNS[figure]}`).join(", ");
  const total = sql.exec<StoredRow>(`SELECT ${sums} FROM usage WHERE ${where}`, ...params).one();
  const totals = noUsage();
  for (const figure of USAGE_FIGURES) totals[figure] = Number(total[COLUMNS[figure]]);
  return { rows, totals, truncated: stored.length > USAGE_MAX_ROWS };
}
