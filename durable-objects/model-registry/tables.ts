/**
 * @module The registry's SQLite tables and the only SQL that touches them.
 */
import type { TensorSpec } from "../../protocol/oip/tensor.ts";
import { chooseDefault, type CacheScope, type ModelRecord, type ModelVersionRecord, type VersionState } from "../../protocol/model-record.ts";
import { VariantTable } from "./variant-table.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS versions (
  name TEXT NOT NULL, version TEXT NOT NULL, r2_key TEXT NOT NULL, sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL, inputs TEXT NOT NULL, outputs TEXT NOT NULL, placement TEXT NOT NULL,
  max_batch INTEGER NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS version_scheduling (
  name TEXT NOT NULL, version TEXT NOT NULL, max_queue_delay_ms REAL NOT NULL, batch_axes TEXT,
  min_replicas INTEGER NOT NULL, max_replicas INTEGER NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS version_diagnostics (
  name TEXT NOT NULL, version TEXT NOT NULL, log_payloads REAL NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS version_cache (
  name TEXT NOT NULL, version TEXT NOT NULL, ttl_seconds INTEGER NOT NULL, scope TEXT NOT NULL,
  PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS pins (name TEXT PRIMARY KEY, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (model TEXT NOT NULL, host TEXT NOT NULL, PRIMARY KEY (model, host));
`;

type VersionRow = {
  name: string;
  version: string;
  r2_key: string;
  sha256: string;
  bytes: number;
  inputs: string;
  outputs: string;
  placement: string;
  max_batch: number;
  state: string;
  created_at: number;
  max_queue_delay_ms: number | null;
  batch_axes: string | null;
  min_replicas: number | null;
  max_replicas: number | null;
  log_payloads: number | null;
  cache_ttl_seconds: number | null;
  cache_scope: string | null;
};

/** Scheduling and diagnostics settings live in tables of their own, so state written before they existed still reads. */
const SELECT_VERSIONS = `SELECT v.*, s.max_queue_delay_ms, s.batch_axes, s.min_replicas, s.max_replicas, d.log_payloads,
  k.ttl_seconds AS cache_ttl_seconds, k.scope AS cache_scope
  FROM versions v LEFT JOIN version_scheduling s ON s.name = v.name AND s.version = v.version
  LEFT JOIN version_diagnostics d ON d.name = v.name AND d.version = v.version
  LEFT JOIN version_cache k ON k.name = v.name AND k.version = v.version`;

export class RegistryTables {
  readonly #sql: SqlStorage;
  readonly variants: VariantTable;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    sql.exec(SCHEMA);
    this.variants = new VariantTable(sql);
  }

  modelNames(): string[] {
    return this.#sql
      .exec<{ name: string }>("SELECT DISTINCT name FROM versions ORDER BY name")
      .toArray()
      .map((r) => r.name);
  }

  model(name: string): ModelRecord | undefined {
    const versions = this.#sql
      .exec<VersionRow>(`${SELECT_VERSIONS} WHERE v.name = ?`, name)
      .toArray()
      .map((row) => this.#withVariants(toRecord(row)));
    if (versions.length === 0) return undefined;
    const pinnedVersion = this.pinned(name);
    return { name, defaultVersion: chooseDefault(versions, pinnedVersion), pinnedVersion, versions };
  }

  version(name: string, version: string): ModelVersionRecord | undefined {
    const row = this.#sql.exec<VersionRow>(`${SELECT_VERSIONS} WHERE v.name = ? AND v.version = ?`, name, version).toArray()[0];
    return row ? this.#withVariants(toRecord(row)) : undefined;
  }

  /** Variants ride on their version's record (and so in its KV publication); a version without any carries no field. */
  #withVariants(record: ModelVersionRecord): ModelVersionRecord {
    const variants = this.variants.of(record.name, record.version);
    return variants.length > 0 ? { ...record, variants } : record;
  }

  insertVersion(v: ModelVersionRecord): void {
    this.#sql.exec(
      "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      v.name,
      v.version,
      v.r2Key,
      v.sha256,
      v.bytes,
      JSON.stringify(v.inputs),
      JSON.stringify(v.outputs),
      v.placement,
      v.maxBatch,
      v.state,
      v.createdAt,
    );
    this.#sql.exec(
      "INSERT OR REPLACE INTO version_scheduling VALUES (?, ?, ?, ?, ?, ?)",
      v.name,
      v.version,
      v.maxQueueDelayMs,
      v.batchAxes ? JSON.stringify(v.batchAxes) : null,
      v.minReplicas,
      v.maxReplicas,
    );
    this.#sql.exec("INSERT OR REPLACE INTO version_diagnostics VALUES (?, ?, ?)", v.name, v.version, v.logPayloads ?? 0);
    // Only versions that cache have a row: no row reads as off.
    if (v.cache) this.#sql.exec("INSERT OR REPLACE INTO version_cache VALUES (?, ?, ?, ?)", v.name, v.version, v.cache.ttlSeconds, v.cache.scope);
    for (const variant of v.variants ?? []) this.variants.insert(v.name, v.version, variant);
  }

  updateState(name: string, version: string, state: VersionState): void {
    this.#sql.exec("UPDATE versions SET state = ? WHERE name = ? AND version = ?", state, name, version);
  }

  updateSignature(name: string, version: string, inputs: TensorSpec[], outputs: TensorSpec[]): void {
    this.#sql.exec(
      "UPDATE versions SET inputs = ?, outputs = ? WHERE name = ? AND version = ?",
      JSON.stringify(inputs),
      JSON.stringify(outputs),
      name,
      version,
    );
  }

  deleteVersion(name: string, version: string): void {
    this.#sql.exec("DELETE FROM versions WHERE name = ? AND version = ?", name, version);
    this.#sql.exec("DELETE FROM version_scheduling WHERE name = ? AND version = ?", name, version);
    this.#sql.exec("DELETE FROM version_diagnostics WHERE name = ? AND version = ?", name, version);
    this.#sql.exec("DELETE FROM version_cache WHERE name = ? AND version = ?", name, version);
    this.variants.delete(name, version);
  }

  pinned(name: string): string | undefined {
    return this.#sql.exec<{ version: string }>("SELECT version FROM pins WHERE name = ?", name).toArray()[0]?.version;
  }

  setPinned(name: string, version: string | undefined): void {
    if (version === undefined) this.#sql.exec("DELETE FROM pins WHERE name = ?", name);
    else this.#sql.exec("INSERT OR REPLACE INTO pins VALUES (?, ?)", name, version);
  }

  hosts(model: string): string[] {
    return this.#sql
      .exec<{ host: string }>("SELECT host FROM hosts WHERE model = ?", model)
      .toArray()
      .map((r) => r.host);
  }

  addHost(model: string, host: string): void {
    this.#sql.exec("INSERT OR IGNORE INTO hosts VALUES (?, ?)", model, host);
  }
}

function toRecord(row: VersionRow): ModelVersionRecord {
  return {
    name: row.name,
    version: row.version,
    r2Key: row.r2_key,
    sha256: row.sha256,
    bytes: row.bytes,
    inputs: JSON.parse(row.inputs),
    outputs: JSON.parse(row.outputs),
    placement: row.placement as ModelVersionRecord["placement"],
    maxBatch: row.max_batch,
    maxQueueDelayMs: row.max_queue_delay_ms ?? 0,
    batchAxes: row.batch_axes ? JSON.parse(row.batch_axes) : undefined,
    minReplicas: row.min_replicas ?? 1,
    maxReplicas: row.max_replicas ?? 1,
    logPayloads: row.log_payloads ?? 0,
    ...(row.cache_ttl_seconds ? { cache: { ttlSeconds: row.cache_ttl_seconds, scope: row.cache_scope as CacheScope } } : {}),
    state: row.state as VersionState,
    createdAt: row.created_at,
  };
}
