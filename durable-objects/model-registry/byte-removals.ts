/**
 * @module Model bytes waiting to be removed from R2 after their version was deleted. The routers
 * keep routing to a deleted version for a while (KV propagation, then their catalog cache), and
 * a request already routed may cold-load it on a host until its deadline; deleting the bytes at
 * once would turn those requests into failures. So the registry records each deleted version's
 * object here with the time it may go, and its alarm removes it then.
 */
import { TIERS } from "../../config/tiers.ts";
import { CATALOG_CACHE_MS, KV_PROPAGATION_MS, type ModelVersionRecord } from "../../protocol/model-record.ts";

/** The longest deadline any tier allows: a request routed just before the delete ends by then. */
const LONGEST_DEADLINE_MS = Math.max(...Object.values(TIERS).map((tier) => tier.maxDeadlineMs));
/** For timers that fire late and clocks that differ a little between machines. */
const SLACK_MS = 5_000;

/**
 * How long a deleted version's bytes stay: until no router can still hold a catalog naming it
 * (KV reaches every location, then the isolate's cache expires) and the last request it routed
 * there has passed its deadline.
 */
export const BYTES_KEPT_AFTER_DELETE_MS = KV_PROPAGATION_MS + CATALOG_CACHE_MS + LONGEST_DEADLINE_MS + SLACK_MS;

/** When a removal that failed (R2 unavailable) is tried again. */
const RETRY_AFTER_FAILURE_MS = 30_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS byte_removals (
  r2_key TEXT PRIMARY KEY, name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, deleted_at INTEGER NOT NULL,
  remove_at INTEGER NOT NULL);
`;

type RemovalRow = { r2_key: string; name: string; version: string; sha256: string; deleted_at: number; remove_at: number };

export interface PendingRemoval {
  r2Key: string;
  name: string;
  version: string;
  sha256: string;
  deletedAt: number;
  removeAt: number;
}

export class ByteRemovals {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    sql.exec(SCHEMA);
  }

  /** Records a deleted version's object; returns when it will be removed. */
  schedule(record: Pick<ModelVersionRecord, "r2Key" | "name" | "version" | "sha256">, deletedAt: number): number {
    const removeAt = deletedAt + BYTES_KEPT_AFTER_DELETE_MS;
    this.#sql.exec(
      "INSERT OR REPLACE INTO byte_removals VALUES (?, ?, ?, ?, ?, ?)",
      record.r2Key,
      record.name,
      record.version,
      record.sha256,
      deletedAt,
      removeAt,
    );
    return removeAt;
  }

  /** No longer pending: the object is gone from R2, or the delete was undone and its bytes serve again. */
  unschedule(r2Key: string): void {
    this.#sql.exec("DELETE FROM byte_removals WHERE r2_key = ?", r2Key);
  }

  /** A removal that failed is tried again later rather than at every alarm. */
  postpone(r2Key: string, now: number): void {
    this.#sql.exec("UPDATE byte_removals SET remove_at = ? WHERE r2_key = ?", now + RETRY_AFTER_FAILURE_MS, r2Key);
  }

  due(now: number): PendingRemoval[] {
    return this.#sql.exec<RemovalRow>("SELECT * FROM byte_removals WHERE remove_at <= ? ORDER BY remove_at", now).toArray().map(toPending);
  }

  /** Every pending removal, or those of one model. */
  list(name?: string): PendingRemoval[] {
    const rows =
      name === undefined
        ? this.#sql.exec<RemovalRow>("SELECT * FROM byte_removals ORDER BY remove_at")
        : this.#sql.exec<RemovalRow>("SELECT * FROM byte_removals WHERE name = ? ORDER BY remove_at", name);
    return rows.toArray().map(toPending);
  }

  nextDueAt(): number | undefined {
    return this.#sql.exec<{ at: number | null }>("SELECT MIN(remove_at) AS at FROM byte_removals").toArray()[0]?.at ?? undefined;
  }
}

function toPending(row: RemovalRow): PendingRemoval {
  return { r2Key: row.r2_key, name: row.name, version: row.version, sha256: row.sha256, deletedAt: row.deleted_at, removeAt: row.remove_at };
}
