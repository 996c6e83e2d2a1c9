/**
 * @module The checks a model version record passes before the origin trusts it: its name and
 * version become cache paths, its sha256 decides which bytes are loaded, its batch limits feed
 * the scheduler. Records come from the edge, or from the cache when the edge is unreachable.
 */
import type { ModelVersionRecord } from "../protocol/model-record.ts";
import { NAME_PATTERN, splitServedVersion } from "../protocol/model-record.ts";
import { badGateway } from "../protocol/errors.ts";

const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** The record's fields the origin relies on; they name files and decide what bytes are trusted. */
export function checkedRecord(body: unknown, name: string, version: string): ModelVersionRecord {
  const record = body as Partial<ModelVersionRecord> | null;
  const bad = (what: string) => badGateway(`record of ${name}@${version} is invalid: ${what}`);
  if (typeof record !== "object" || record === null) throw bad("not an object");
  if (record.name !== name || record.version !== version) throw bad(`it names ${String(record.name)}@${String(record.version)}`);
  if (!NAME_PATTERN.test(name) || !splitServedVersion(version)) throw bad("name or version has characters a path cannot hold");
  if (typeof record.sha256 !== "string" || !SHA256_PATTERN.test(record.sha256)) throw bad("sha256 is not 64 hex digits");
  if (!Array.isArray(record.inputs) || !Array.isArray(record.outputs)) throw bad("inputs and outputs must be arrays");
  const maxBatch = record.maxBatch ?? 1;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) throw bad(`maxBatch must be a positive integer, got ${String(maxBatch)}`);
  const maxQueueDelayMs = record.maxQueueDelayMs ?? 0;
  if (typeof maxQueueDelayMs !== "number" || !(maxQueueDelayMs >= 0)) throw bad(`maxQueueDelayMs must be >= 0, got ${String(maxQueueDelayMs)}`);
  return { ...(record as ModelVersionRecord), maxBatch, maxQueueDelayMs };
}
