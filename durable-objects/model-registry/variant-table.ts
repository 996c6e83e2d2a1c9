/**
 * @module The registry's table of model variants (other bytes of a version: int8, fp16, ...) and
 * the only SQL that touches it. A variant belongs to its version: it goes when the version goes.
 */
import type { Placement, VariantAccuracy, VariantRecord } from "../../protocol/model-record.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS variants (
  name TEXT NOT NULL, version TEXT NOT NULL, variant TEXT NOT NULL, r2_key TEXT NOT NULL, sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL, placement TEXT NOT NULL, accuracy TEXT NOT NULL, max_error REAL, created_at INTEGER NOT NULL,
  PRIMARY KEY (name, version, variant));
`;

type VariantRow = {
  variant: string;
  r2_key: string;
  sha256: string;
  bytes: number;
  placement: string;
  accuracy: string;
  max_error: number | null;
  created_at: number;
};

export class VariantTable {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    sql.exec(SCHEMA);
  }

  /** A version's variants, smallest first (the order degradation tries them in). */
  of(name: string, version: string): VariantRecord[] {
    return this.#sql
      .exec<VariantRow>("SELECT * FROM variants WHERE name = ? AND version = ? ORDER BY bytes, variant", name, version)
      .toArray()
      .map((row) => ({
        variant: row.variant,
        r2Key: row.r2_key,
        sha256: row.sha256,
        bytes: row.bytes,
        placement: row.placement as Placement,
        accuracy: JSON.parse(row.accuracy) as VariantAccuracy,
        maxError: row.max_error,
        createdAt: row.created_at,
      }));
  }

  insert(name: string, version: string, v: VariantRecord): void {
    this.#sql.exec(
      "INSERT INTO variants VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      name,
      version,
      v.variant,
      v.r2Key,
      v.sha256,
      v.bytes,
      v.placement,
      JSON.stringify(v.accuracy),
      v.maxError,
      v.createdAt,
    );
  }

  delete(name: string, version: string, variant?: string): void {
    if (variant === undefined) this.#sql.exec("DELETE FROM variants WHERE name = ? AND version = ?", name, version);
    else this.#sql.exec("DELETE FROM variants WHERE name = ? AND version = ? AND variant = ?", name, version, variant);
  }
}
