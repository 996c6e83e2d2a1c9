/**
 * @module The registry's table of model variants (other bytes of a version: int8, fp16, ...) and
 * the only SQL that touches it. A variant belongs to its version: it goes when the version goes.
 * Beside it, the variants uploads are adding for the origin pool (`variant_uploads`): an origin
 * must fetch their bytes before they are proven, and that row is where the edge finds them. It is
 * never published; the upload registers the variant or discards the row.
 */
import type { Placement, VariantAccuracy, VariantRecord } from "../../protocol/model-record.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS variants (
  name TEXT NOT NULL, version TEXT NOT NULL, variant TEXT NOT NULL, r2_key TEXT NOT NULL, sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL, placement TEXT NOT NULL, accuracy TEXT NOT NULL, max_error REAL, created_at INTEGER NOT NULL,
  PRIMARY KEY (name, version, variant));
CREATE TABLE IF NOT EXISTS variant_uploads (
  name TEXT NOT NULL, version TEXT NOT NULL, variant TEXT NOT NULL, r2_key TEXT NOT NULL, sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL, placement TEXT NOT NULL,
  PRIMARY KEY (name, version, variant));
`;

/** A variant an upload is adding for the origin pool, before it is proven and measured. */
export type StagedVariant = Pick<VariantRecord, "variant" | "r2Key" | "sha256" | "bytes" | "placement">;

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

  /** Without `variant`, every variant of the version goes, those still being uploaded too. */
  delete(name: string, version: string, variant?: string): void {
    if (variant !== undefined) return void this.#sql.exec("DELETE FROM variants WHERE name = ? AND version = ? AND variant = ?", name, version, variant);
    this.#sql.exec("DELETE FROM variants WHERE name = ? AND version = ?", name, version);
    this.#sql.exec("DELETE FROM variant_uploads WHERE name = ? AND version = ?", name, version);
  }

  stage(name: string, version: string, v: StagedVariant): void {
    this.#sql.exec("INSERT INTO variant_uploads VALUES (?, ?, ?, ?, ?, ?, ?)", name, version, v.variant, v.r2Key, v.sha256, v.bytes, v.placement);
  }

  staged(name: string, version: string, variant: string): StagedVariant | undefined {
    const row = this.#sql
      .exec<Omit<VariantRow, "accuracy" | "max_error" | "created_at">>(
        "SELECT variant, r2_key, sha256, bytes, placement FROM variant_uploads WHERE name = ? AND version = ? AND variant = ?",
        name,
        version,
        variant,
      )
      .toArray()[0];
    return row && { variant: row.variant, r2Key: row.r2_key, sha256: row.sha256, bytes: row.bytes, placement: row.placement as Placement };
  }

  /** Ends the upload of `r2Key` (registered or failed); another upload's row under the same name stays. */
  unstage(name: string, version: string, variant: string, r2Key: string): void {
    this.#sql.exec("DELETE FROM variant_uploads WHERE name = ? AND version = ? AND variant = ? AND r2_key = ?", name, version, variant, r2Key);
  }
}
