/**
 * @module The origin's disk cache of model files: `<dir>/<name>/<version>/<sha256>.onnx`, plus the
 * record the file was fetched for (`record.json`), so a restart skips the download and can even
 * start while the edge is unreachable. Files are written to a temporary name and renamed, so a
 * crash never leaves a half-written model under its final name; every read is checked against the
 * record's sha256 again, so a file changed on disk is refused, never loaded.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { ModelVersionRecord } from "../protocol/model-record.ts";
import { sha256Hex } from "../protocol/sha256.ts";
import { checkedRecord } from "./model-record.ts";

export type CachedModel =
  | { kind: "hit"; bytes: Uint8Array }
  | { kind: "missing" }
  /** The file is there but is not what the record says: removed, to be fetched again. */
  | { kind: "tampered"; path: string; actualSha256: string };

export class ModelCache {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  /**
   * Names and versions were checked against NAME_PATTERN (a variant's served version is two such
   * names joined by '~') and sha256 is hex (edge-client.ts), so this stays inside `dir`.
   */
  modelPath(record: Pick<ModelVersionRecord, "name" | "version" | "sha256">): string {
    return join(this.dir, record.name, record.version, `${record.sha256}.onnx`);
  }

  /**
   * The cached bytes, verified against `record.sha256`.
   * @example
   * const cached = await cache.read(record);
   * if (cached.kind === "hit") load(cached.bytes);
   */
  async read(record: ModelVersionRecord): Promise<CachedModel> {
    const path = this.modelPath(record);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await readFile(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { kind: "missing" };
      throw error;
    }
    const actualSha256 = await sha256Hex(bytes);
    if (actualSha256 === record.sha256) return { kind: "hit", bytes };
    await rm(path, { force: true });
    return { kind: "tampered", path, actualSha256 };
  }

  /** Stores verified bytes and their record; older files of the same version are removed. */
  async write(record: ModelVersionRecord, bytes: Uint8Array): Promise<string> {
    const path = this.modelPath(record);
    const dir = join(this.dir, record.name, record.version);
    await mkdir(dir, { recursive: true });
    await atomicWrite(path, bytes);
    await atomicWrite(join(dir, "record.json"), JSON.stringify(record, null, 2));
    for (const file of await readdir(dir)) {
      if (file.endsWith(".onnx") && file !== `${record.sha256}.onnx`) await rm(join(dir, file), { force: true });
    }
    return path;
  }

  /** The record a cached file was fetched for: what a restart uses when the edge cannot be reached. */
  async readRecord(name: string, version: string): Promise<ModelVersionRecord | undefined> {
    try {
      return checkedRecord(JSON.parse(await readFile(join(this.dir, name, version, "record.json"), "utf8")), name, version);
    } catch {
      return undefined;
    }
  }
}

async function atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
  // Same directory as the target, so the rename never crosses file systems and stays atomic.
  const temporary = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
