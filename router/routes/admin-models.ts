/**
 * @module Admin model management: upload a version (streamed to R2, hashed on the way, proven
 * loadable by a ModelHost, then registered), delete a version, pin the default, inspect state.
 * An upload that fails any step leaves nothing behind: its R2 object is deleted.
 */
import { hex } from "../../protocol/sha256.ts";
import { Hono, type Context } from "hono";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { NAME_PATTERN, PLACEMENTS, type ModelRecord, type ModelVersionRecord, type Placement } from "../../protocol/model-record.ts";
import { loadOnPool, unloadOnPool } from "../origin-pool/origin-admin.ts";
import type { AppEnv } from "../app-env.ts";
import { findModel, invalidateCatalog, registry, registryModel, registryModels } from "../catalog.ts";
import { limitsOf } from "../limits.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { modelHostFor } from "../placement/model-host.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import { regionOf } from "../placement/region.ts";
import { replicaSetsOf } from "../placement/replica-set.ts";

export const adminModelRoutes = new Hono<AppEnv>();
adminModelRoutes.use("/admin/models/*", adminAuth);
adminModelRoutes.use("/admin/models", adminAuth);

const DEFAULT_MAX_BATCH = 1;
const DEFAULT_MAX_REPLICAS = 4;

adminModelRoutes.get("/admin/models", async (c) => c.json({ models: await registryModels(c.env) }));

adminModelRoutes.get("/admin/models/:name", async (c) => {
  const name = c.req.param("name");
  const model = await registryModel(c.env, name);
  if (!model) throw new HttpError(404, `unknown model '${name}'`);
  const host = modelHostFor(c.env, regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined), name);
  // A host that cannot answer (reset, overloaded) is what the operator came to see: the catalog
  // is still shown, with the host marked, rather than a 500 for the whole view.
  const state = await host.stub.state().catch((error: unknown) => {
    console.error(`model host ${host.name} did not report its state`, error);
    return { host: host.name, error: "the model host did not answer, try again" };
  });
  // The replica sets are per isolate: this shows what the isolate answering sees and sends.
  return c.json({ ...model, hosts: [state], replicas: replicaSetsOf(name) });
});

adminModelRoutes.put("/admin/models/:name/versions/:version", async (c) => {
  const name = checkedName(c.req.param("name"), "model name");
  const version = checkedName(c.req.param("version"), "version");
  const placement = checkedPlacement(c.req.query("placement"));
  const maxBatch = checkedInt(c.req.query("max_batch"), "max_batch", 1, 1024, DEFAULT_MAX_BATCH);
  // Triton's name and unit for the longest a request may wait to fill a batch.
  const maxQueueDelayMs = checkedInt(c.req.query("max_queue_delay_microseconds"), "max_queue_delay_microseconds", 0, 1_000_000, 0) / 1000;
  const minReplicas = checkedInt(c.req.query("min_replicas"), "min_replicas", 1, 64, 1);
  const maxReplicas = checkedInt(c.req.query("max_replicas"), "max_replicas", minReplicas, 64, Math.max(minReplicas, DEFAULT_MAX_REPLICAS));
  if ((await registryModel(c.env, name))?.versions.some((v) => v.version === version)) {
    throw new HttpError(409, `model '${name}' already has version '${version}'; delete it first`);
  }
  const { r2Key, sha256, bytes } = await storeUpload(c, name, version);
  const settings = { name, version, r2Key, sha256, bytes, maxBatch, maxQueueDelayMs, placement, minReplicas, maxReplicas };
  const record = placement === "origin" ? await registerOnPool(c, settings) : await registerAtEdge(c, settings);
  invalidateCatalog(name);
  return c.json(describeVersion(record, version), 201);
});

type UploadedVersion = Omit<ModelVersionRecord, "inputs" | "outputs" | "batchAxes" | "state" | "createdAt">;

/** Edge and auto models: a ModelHost of this region loads the bytes, proving them and reading the signature. */
async function registerAtEdge(c: Context<AppEnv>, upload: UploadedVersion): Promise<ModelRecord> {
  const host = modelHostFor(c.env, regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined), upload.name);
  try {
    const inspected = unwrapReply(await host.stub.inspect({ ...upload, batchAxes: undefined }));
    return unwrapReply(await registry(c.env).register({ ...upload, ...inspected }));
  } catch (error) {
    await host.stub.drop(upload.name, upload.version);
    await c.env.MODELS.delete(upload.r2Key);
    throw error;
  }
}

/** Origin models: too big for an isolate, so the origins load them and report the signature. */
async function registerOnPool(c: Context<AppEnv>, upload: UploadedVersion): Promise<ModelRecord> {
  let pending = false;
  try {
    unwrapReply(await registry(c.env).addPendingVersion({ ...upload, inputs: [], outputs: [], batchAxes: undefined }));
    pending = true;
    invalidateCatalog(upload.name);
    const signature = await loadOnPool(c.env, upload.name, upload.version);
    return unwrapReply(await registry(c.env).completeOriginVersion(upload.name, upload.version, signature));
  } catch (error) {
    if (pending) await registry(c.env).remove(upload.name, upload.version, true);
    await c.env.MODELS.delete(upload.r2Key);
    throw error;
  }
}

/**
 * `?force=true` is needed to delete the default or the last ready version (409 otherwise). The
 * bytes go only after the registry has published the record without the version, so nothing
 * new routes to them; origins are told to unload it in the background, since an origin that is
 * down or slow must not fail a delete the registry has already made.
 */
adminModelRoutes.delete("/admin/models/:name/versions/:version", async (c) => {
  const force = c.req.query("force") === "true";
  const removed = unwrapReply(await registry(c.env).remove(c.req.param("name"), c.req.param("version"), force));
  invalidateCatalog(removed.name);
  await c.env.MODELS.delete(removed.r2Key);
  if (removed.placement !== "edge") c.executionCtx.waitUntil(unloadOnPool(c.env, removed.name, removed.version));
  return c.json({ deleted: { name: removed.name, version: removed.version } });
});

/** Body `{"version": "2"}` pins the default; `{"version": null}` returns to the highest ready. */
adminModelRoutes.put("/admin/models/:name/default", async (c) => {
  const name = c.req.param("name");
  const body = await c.req.json<{ version?: unknown }>().catch(() => {
    throw badRequest('body must be JSON: {"version": "<version>"} or {"version": null}');
  });
  if (body.version !== null && typeof body.version !== "string") throw badRequest('"version" must be a string or null');
  if (!(await findModel(c.env, name))) throw new HttpError(404, `unknown model '${name}'`);
  const record = unwrapReply(await registry(c.env).pin(name, body.version ?? undefined));
  invalidateCatalog(name);
  return c.json(record);
});

async function storeUpload(c: Context<AppEnv>, name: string, version: string) {
  const declared = c.req.header("content-length");
  if (declared === undefined) throw new HttpError(411, "model uploads need a Content-Length header");
  const bytes = Number(declared);
  const limit = limitsOf(c.env).maxUploadBytes;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw badRequest("the upload body is empty");
  if (bytes > limit) throw new HttpError(413, `model of ${bytes} bytes exceeds the upload limit of ${limit} bytes`);
  const body = c.req.raw.body;
  if (!body) throw badRequest("the upload body is empty");

  // Hash while streaming to R2, so a large model is never held in the router's memory.
  const [toStore, toHash] = body.tee();
  const digest = new crypto.DigestStream("SHA-256");
  const hashed = toHash.pipeTo(digest);
  const r2Key = `models/${name}/${version}/${crypto.randomUUID()}.onnx`;
  try {
    await c.env.MODELS.put(r2Key, toStore.pipeThrough(new FixedLengthStream(bytes)));
    await hashed;
  } catch (error) {
    await c.env.MODELS.delete(r2Key);
    throw badRequest(`upload failed: the body did not match its Content-Length of ${bytes} bytes (${String(error)})`);
  }
  const sha256 = hex(await digest.digest);
  return { r2Key, sha256, bytes };
}

function describeVersion(record: ModelRecord, version: string) {
  const v = record.versions.find((entry) => entry.version === version);
  return { name: record.name, defaultVersion: record.defaultVersion, version: v };
}

function checkedName(value: string, what: string): string {
  if (!NAME_PATTERN.test(value)) throw badRequest(`${what} '${value}' must match ${NAME_PATTERN.source}`);
  return value;
}

function checkedPlacement(value: string | undefined): Placement {
  if (value === undefined) return "edge";
  if (!PLACEMENTS.includes(value as Placement)) throw badRequest(`placement must be one of ${PLACEMENTS.join(", ")}, got '${value}'`);
  return value as Placement;
}

function checkedInt(value: string | undefined, what: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw badRequest(`${what} must be an integer from ${min} to ${max}, got '${value}'`);
  return n;
}
