/**
 * @module Uploading a model version (`PUT /admin/models/{m}/versions/{v}`). What the request
 * declares is checked before a byte is read: its size against MAX_UPLOAD_BYTES and, for a model
 * that runs at the edge, whether a host could keep it warm at all. The bytes then stream to R2
 * while they are hashed, a ModelHost (or, for `origin` models, the origins) loads them to prove
 * they run and to read the signature, and the registry adds the version and publishes it once.
 *
 * An upload that fails at any step leaves nothing behind: the registry forgets the version (it
 * undoes its own change when the KV publication fails), the host or the origins release what
 * they loaded, and the R2 object is deleted.
 */
import type { Context } from "hono";
import { positiveVar, VAR_DEFAULTS } from "../../config/vars.ts";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { NAME_PATTERN, PLACEMENTS, type ModelRecord, type ModelVersionRecord, type Placement } from "../../protocol/model-record.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import { warmSessionBytes } from "../../protocol/session-memory.ts";
import { hex } from "../../protocol/sha256.ts";
import type { AppEnv } from "../app-env.ts";
import { invalidateCatalog, registry, registryModel } from "../catalog.ts";
import { limitsOf } from "../limits.ts";
import { loadOnPool, unloadOnPool } from "../origin-pool/origin-admin.ts";
import { modelHostFor } from "../placement/model-host.ts";
import { regionOf } from "../placement/region.ts";
import { checkedCacheSetting, refuseCachingStatefulModel } from "../response-cache/upload-setting.ts";

const DEFAULT_MAX_BATCH = 1;
const DEFAULT_MAX_REPLICAS = 4;
const MB = 1024 * 1024;

type UploadedVersion = Omit<ModelVersionRecord, "inputs" | "outputs" | "batchAxes" | "state" | "createdAt">;

export async function uploadVersion(c: Context<AppEnv>): Promise<Response> {
  const name = checkedName(c.req.param("name") ?? "", "model name");
  const version = checkedName(c.req.param("version") ?? "", "version");
  const placement = checkedPlacement(c.req.query("placement"));
  const maxBatch = checkedInt(c.req.query("max_batch"), "max_batch", 1, 1024, DEFAULT_MAX_BATCH);
  // Triton's name and unit for the longest a request may wait to fill a batch.
  const maxQueueDelayMs = checkedInt(c.req.query("max_queue_delay_microseconds"), "max_queue_delay_microseconds", 0, 1_000_000, 0) / 1000;
  const minReplicas = checkedInt(c.req.query("min_replicas"), "min_replicas", 1, 64, 1);
  const maxReplicas = checkedInt(c.req.query("max_replicas"), "max_replicas", minReplicas, 64, Math.max(minReplicas, DEFAULT_MAX_REPLICAS));
  const logPayloads = checkedRate(c.req.query("log_payloads"), "log_payloads");
  const cache = checkedCacheSetting((key) => c.req.query(key));
  const bytes = declaredLength(c);
  refuseIfTooLargeToKeepWarm(c.env, placement, bytes);
  if ((await registryModel(c.env, name))?.versions.some((v) => v.version === version)) {
    throw new HttpError(409, `model '${name}' already has version '${version}'; delete it first`);
  }
  const { r2Key, sha256 } = await storeUpload(c, `models/${name}/${version}`, bytes);
  const settings = { name, version, r2Key, sha256, bytes, maxBatch, maxQueueDelayMs, placement, minReplicas, maxReplicas, logPayloads, cache };
  const record = placement === "origin" ? await registerOnPool(c, settings) : await registerAtEdge(c, settings);
  invalidateCatalog(name);
  return c.json(describeVersion(record, version), 201);
}

/** The body's declared size: 411 without one, 413 over MAX_UPLOAD_BYTES, before any of it is read. */
export function declaredLength(c: Context<AppEnv>): number {
  const declared = c.req.header("content-length");
  if (declared === undefined) throw new HttpError(411, "model uploads need a Content-Length header");
  const bytes = Number(declared);
  const limit = limitsOf(c.env).maxUploadBytes;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw badRequest("the upload body is empty");
  if (bytes > limit) throw new HttpError(413, `model of ${bytes} bytes exceeds the upload limit of ${limit} bytes`);
  return bytes;
}

/**
 * `edge` and `auto` models run on a ModelHost (auto ones first at the edge), which keeps at most
 * HOST_MEMORY_BUDGET_MB warm and would refuse a model bigger than that: accepting one would
 * only fail later, or on every request. The same estimate as the host's (protocol/session-memory.ts).
 */
export function refuseIfTooLargeToKeepWarm(env: Env, placement: Placement, bytes: number): void {
  if (placement === "origin") return;
  const budgetMb = positiveVar("HOST_MEMORY_BUDGET_MB", env.HOST_MEMORY_BUDGET_MB, VAR_DEFAULTS.HOST_MEMORY_BUDGET_MB);
  const needed = warmSessionBytes(bytes);
  if (needed <= budgetMb * MB) return;
  throw new HttpError(
    413,
    `model of ${inMb(bytes)} MB is too large to keep warm on an edge host: a warm session needs about ${inMb(needed)} MB, ` +
      `over the host memory budget of ${budgetMb} MB (HOST_MEMORY_BUDGET_MB); upload it with placement=origin`,
  );
}

const inMb = (bytes: number): string => (bytes / MB).toFixed(1);

/** Edge and auto models: a ModelHost of this region loads the bytes, proving them and reading the signature. */
async function registerAtEdge(c: Context<AppEnv>, upload: UploadedVersion): Promise<ModelRecord> {
  const host = modelHostFor(c.env, regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined), upload.name);
  try {
    const inspected = unwrapReply(await host.stub.inspect({ ...upload, batchAxes: undefined }));
    refuseCachingStatefulModel((key) => c.req.query(key), upload.cache, inspected);
    // The registry forgets the version itself when it cannot add it.
    return unwrapReply(await registry(c.env).register({ ...upload, ...inspected }));
  } catch (error) {
    // Unless another upload of this version won meanwhile (then the session is of its bytes).
    if (!(await registeredElsewhere(c.env, upload))) {
      await bestEffort(`dropping ${upload.name}@${upload.version} from ${host.name}`, () => host.stub.drop(upload.name, upload.version));
    }
    await deleteObject(c.env, upload.r2Key);
    throw error;
  }
}

/** Origin models: too big for an isolate, so the origins load them and report the signature. */
async function registerOnPool(c: Context<AppEnv>, upload: UploadedVersion): Promise<ModelRecord> {
  const added = { name: upload.name, version: upload.version, r2Key: upload.r2Key };
  try {
    unwrapReply(await registry(c.env).addPendingVersion({ ...upload, inputs: [], outputs: [], batchAxes: undefined }));
  } catch (error) {
    await deleteObject(c.env, upload.r2Key);
    throw error;
  }
  try {
    const signature = await loadOnPool(c.env, upload.name, upload.version);
    refuseCachingStatefulModel((key) => c.req.query(key), upload.cache, signature);
    return unwrapReply(await registry(c.env).completeOriginVersion(added, signature));
  } catch (error) {
    await bestEffort(`discarding ${upload.name}@${upload.version}`, async () => unwrapReply(await registry(c.env).discardPendingVersion(added)));
    // Origins that did load the version would go on holding a session of a version that is not there.
    c.executionCtx.waitUntil(unloadOnPool(c.env, upload.name, upload.version));
    await deleteObject(c.env, upload.r2Key);
    throw error;
  }
}

async function registeredElsewhere(env: Env, upload: UploadedVersion): Promise<boolean> {
  const model = await registry(env)
    .get(upload.name)
    .catch(() => undefined);
  const record = model?.versions.find((v) => v.version === upload.version);
  return record !== undefined && record.r2Key !== upload.r2Key;
}

export async function deleteObject(env: Env, r2Key: string): Promise<void> {
  await bestEffort(`deleting ${r2Key} from R2 after a failed upload`, () => env.MODELS.delete(r2Key));
}

/** Clean-up after a failed upload: its own failure is logged, never put in place of the upload's error. */
export async function bestEffort(what: string, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    console.error(`${what} failed`, error);
  }
}

/** Streams the body to R2 under `keyPrefix` (`models/<name>/<version>`), hashing it on the way. */
export async function storeUpload(c: Context<AppEnv>, keyPrefix: string, bytes: number): Promise<{ r2Key: string; sha256: string }> {
  const body = c.req.raw.body;
  if (!body) throw badRequest("the upload body is empty");
  // Hash while streaming to R2, so a large model is never held in the router's memory.
  const [toStore, toHash] = body.tee();
  const digest = new crypto.DigestStream("SHA-256");
  const hashed = toHash.pipeTo(digest);
  const r2Key = `${keyPrefix}/${crypto.randomUUID()}.onnx`;
  try {
    await c.env.MODELS.put(r2Key, toStore.pipeThrough(new FixedLengthStream(bytes)));
    await hashed;
  } catch (error) {
    await deleteObject(c.env, r2Key);
    throw badRequest(`upload failed: the body did not match its Content-Length of ${bytes} bytes (${String(error)})`);
  }
  return { r2Key, sha256: hex(await digest.digest) };
}

function describeVersion(record: ModelRecord, version: string) {
  const v = record.versions.find((entry) => entry.version === version);
  return { name: record.name, defaultVersion: record.defaultVersion, version: v };
}

export function checkedName(value: string, what: string): string {
  if (!NAME_PATTERN.test(value)) throw badRequest(`${what} '${value}' must match ${NAME_PATTERN.source}`);
  return value;
}

function checkedPlacement(value: string | undefined): Placement {
  if (value === undefined) return "edge";
  if (!PLACEMENTS.includes(value as Placement)) throw badRequest(`placement must be one of ${PLACEMENTS.join(", ")}, got '${value}'`);
  return value as Placement;
}

/** A share from 0 to 1 (a sampling rate); 0 when not given. */
function checkedRate(value: string | undefined, what: string): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) throw badRequest(`${what} must be a number from 0 to 1, got '${value}'`);
  return n;
}

export function checkedInt(value: string | undefined, what: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw badRequest(`${what} must be an integer from ${min} to ${max}, got '${value}'`);
  return n;
}
