/**
 * @module Open Inference Protocol server and model metadata: `GET /v2`, health, model
 * metadata and readiness, with and without a version in the path. The model routes check, in
 * order and before any catalog or registry I/O: the key and the path (tenantAuth: 401, 400),
 * the key's right to the name (403, the same whether the model exists or not, so a key learns
 * nothing of models it may not use), and the tenant's rate and in-flight cap (429), as
 * inference does.
 */
import { Hono } from "hono";
import { HttpError } from "../../protocol/errors.ts";
import type { AppEnv } from "../app-env.ts";
import { findModel, resolveVersion } from "../catalog.ts";
import { tenantAuth } from "../middleware/tenant-auth.ts";
import { mayUseModel } from "../tenants/records.ts";
import { admitTenant } from "../admission/tenant-limits.ts";
import { tierConfig } from "../../config/tiers.ts";
import type { Context } from "hono";

export const SERVER_VERSION = "0.1.0";
export const EXTENSIONS = ["binary_tensor_data", "schedule_policy", "model_repository"];

export const oipMetadataRoutes = new Hono<AppEnv>();

oipMetadataRoutes.get("/v2", (c) => c.json({ name: "hotpath", version: SERVER_VERSION, extensions: EXTENSIONS }));
oipMetadataRoutes.get("/v2/health/live", (c) => c.json({ live: true }));
oipMetadataRoutes.get("/v2/health/ready", (c) => c.json({ ready: true }));

oipMetadataRoutes.get("/v2/models/:model", tenantAuth, (c) => admitted(c, () => metadata(c, undefined)));
oipMetadataRoutes.get("/v2/models/:model/versions/:version", tenantAuth, (c) => admitted(c, () => metadata(c, c.req.param("version"))));
oipMetadataRoutes.get("/v2/models/:model/ready", tenantAuth, (c) => admitted(c, () => ready(c, undefined)));
oipMetadataRoutes.get("/v2/models/:model/versions/:version/ready", tenantAuth, (c) => admitted(c, () => ready(c, c.req.param("version"))));

/** 403 for a name the key may not use, then a token and an in-flight slot (429), then the answer. */
async function admitted(c: Context<AppEnv>, answer: () => Promise<Response>): Promise<Response> {
  const tenant = c.get("tenant");
  const name = c.req.param("model") ?? "";
  if (!mayUseModel(tenant, name)) throw new HttpError(403, `this key may not use model '${name}'`);
  const release = admitTenant(tenant.id, tierConfig(tenant.tier), Date.now(), c.req.raw.signal);
  try {
    return await answer();
  } finally {
    release();
  }
}

async function knownModel(c: Context<AppEnv>) {
  const name = c.req.param("model") ?? "";
  const model = await findModel(c.env, name);
  if (!model) throw new HttpError(404, `unknown model '${name}'`);
  return model;
}

async function metadata(c: Context<AppEnv>, version: string | undefined) {
  const model = await knownModel(c);
  const record = await resolveVersion(c.env, model.name, version);
  return c.json({
    name: model.name,
    versions: model.versions.filter((v) => v.state !== "unloaded").map((v) => v.version),
    platform: "onnxruntime_onnx",
    inputs: record.inputs,
    outputs: record.outputs,
    parameters: {
      version: record.version,
      placement: record.placement,
      max_batch: record.maxBatch,
      sha256: record.sha256,
      ...(record.cache ? { cache_ttl_seconds: record.cache.ttlSeconds, cache_scope: record.cache.scope } : {}),
      // What parameters.variant may name: each variant's size, placement and measured error against the default.
      variants: (record.variants ?? []).map(({ variant, bytes, placement, sha256, accuracy, maxError }) => ({
        name: variant,
        bytes,
        placement,
        sha256,
        accuracy,
        max_error: maxError,
      })),
    },
  });
}

async function ready(c: Context<AppEnv>, version: string | undefined) {
  const model = await knownModel(c);
  const record = await resolveVersion(c.env, model.name, version);
  return c.json({ name: model.name, version: record.version, ready: true });
}
