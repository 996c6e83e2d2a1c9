/**
 * @module The one path by which a model's record leaves the registry for KV, where the routers
 * read it. KV takes one write per second per key, so every write goes through here: a record
 * that has not changed since the last write is not written again, writes to one key are spaced
 * a second apart, and each is counted (GET /admin/models/{m} shows the count).
 *
 * The registry's SQLite is the truth and KV a copy of it. A KV write that throws may still have
 * landed (a timeout after the write), so when one fails the model is marked stale and the
 * registry's alarm writes its current record again until a write succeeds; a write that
 * succeeded while another change landed in the registry is stale in the same way.
 */
import { catalogKey, type ModelRecord } from "../../protocol/model-record.ts";

/** Cloudflare KV: one write per second to the same key. */
export const KV_WRITE_SPACING_MS = 1_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS publications (
  name TEXT PRIMARY KEY, writes INTEGER NOT NULL, last_at INTEGER NOT NULL, body TEXT, stale INTEGER NOT NULL);
`;

type PublicationRow = { name: string; writes: number; last_at: number; body: string | null; stale: number };

export interface PublicationInfo {
  /** KV writes (puts and deletes) of this model's key so far, failed ones included. */
  writes: number;
  lastWriteAt: number | undefined;
  /** KV may not hold the registry's current record: the alarm writes it again. */
  stale: boolean;
}

export class CatalogPublisher {
  readonly #sql: SqlStorage;
  readonly #kv: () => KVNamespace;
  readonly #read: (name: string) => ModelRecord | undefined;
  /** Next free write slot per key, so writes that overlap in time still go a second apart. */
  readonly #nextSlot = new Map<string, number>();

  constructor(sql: SqlStorage, kv: () => KVNamespace, read: (name: string) => ModelRecord | undefined) {
    this.#sql = sql;
    this.#kv = kv;
    this.#read = read;
    sql.exec(SCHEMA);
  }

  /**
   * Writes the model's current record to KV (or deletes the key when the model has no version
   * left), unless KV already holds exactly that. Throws what KV threw, after marking it stale.
   */
  async publish(name: string): Promise<void> {
    const record = this.#read(name);
    const body = record ? JSON.stringify(record) : null;
    const row = this.#row(name);
    // A model never written has nothing in KV, which is what a model without versions publishes.
    if ((row?.stale ?? 0) === 0 && (row?.body ?? null) === body) return;
    await this.#waitForSlot(name, row?.last_at);
    this.#sql.exec(
      `INSERT INTO publications VALUES (?, 1, ?, NULL, 1)
       ON CONFLICT (name) DO UPDATE SET writes = writes + 1, last_at = excluded.last_at, stale = 1`,
      name,
      Date.now(),
    );
    if (body === null) await this.#kv().delete(catalogKey(name));
    else await this.#kv().put(catalogKey(name), body);
    // The registry answers other calls while the write is in flight: compare with what it holds now.
    const now = this.#read(name);
    const current = (now ? JSON.stringify(now) : null) === body;
    this.#sql.exec("UPDATE publications SET body = ?, stale = ? WHERE name = ?", body, current ? 0 : 1, name);
  }

  /**
   * Models this registry published before it kept track of its writes: what KV holds of them is
   * not known here, so they count as stale and the next publication (the alarm's, or a change's)
   * writes them. A model without a row is otherwise taken to have nothing in KV.
   */
  adopt(names: string[]): void {
    for (const name of names) this.#sql.exec("INSERT OR IGNORE INTO publications VALUES (?, 0, 0, NULL, 1)", name);
  }

  info(name: string): PublicationInfo {
    const row = this.#row(name);
    return { writes: row?.writes ?? 0, lastWriteAt: row?.last_at, stale: row?.stale === 1 };
  }

  /** Stale models and when each may be written again. */
  stale(): { name: string; writableAt: number }[] {
    return this.#sql
      .exec<PublicationRow>("SELECT * FROM publications WHERE stale = 1")
      .toArray()
      .map((row) => ({ name: row.name, writableAt: row.last_at + KV_WRITE_SPACING_MS }));
  }

  async #waitForSlot(name: string, lastAt: number | undefined): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.#nextSlot.get(name) ?? 0, (lastAt ?? 0) + KV_WRITE_SPACING_MS);
    this.#nextSlot.set(name, slot + KV_WRITE_SPACING_MS);
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
  }

  #row(name: string): PublicationRow | undefined {
    return this.#sql.exec<PublicationRow>("SELECT * FROM publications WHERE name = ?", name).toArray()[0];
  }
}
