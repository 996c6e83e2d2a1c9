/**
 * @module Open Inference Protocol server and model metadata: `GET /v2`, health, model
 * metadata and readiness, with and without a version in the path.
 */
import { Hono } from "hono";
import { HttpError } from "../../protocol/errors.ts";
import type { AppEnv } from "../app-env.ts";
import { findModel, resolveVersion } from "../catalog.ts";
import { tenantAuth } from "../middleware/tenant-auth.ts";
import { mayUseModel } from "../tenants/records.ts";
import type { Context } from "hono";

export const SERVER_VERSION = "0.1.0";
export const EXTENSIONS = ["binary_tensor_data", "schedule_policy", "model_repository"];

export const oipMetadataRoutes = new Hono<AppEnv>();

oipMetadataRoutes.get("/v2", (c) => c.json({ name: "hotpath", version: SERVER_VERSION, extensions: EXTENSIONS }));
oipMetadataRoutes.get("/v2/health/live", (c) => c.json({ live: true }));
oipMetadataRoutes.get("/v2/health/ready", (c) => c.json({ ready: true }));

oipMetadataRoutes.get("/v2/models/:model", tenantAuth, (c) => metadata(c, undefined));
oipMetadataRoutes.get("/v2/models/:model/versions/:version", tenantAuth, (c) => metadata(c, c.req.param("version")));
oipMetadataRoutes.get("/v2/models/:model/ready", tenantAuth, (c) => ready(c, undefined));
oipMetadataRoutes.get("/v2/models/:model/versions/:version/ready", tenantAuth, (c) => ready(c, c.req.param("version")));

async function allowedModel(c: Context<AppEnv>) {
  const name = c.req.param("model") ?? "";
  const model = await findModel(c.env, name);
  if (!model) throw new HttpError(404, `unknown model '${name}'`);
  if (!mayUseModel(c.get("tenant"), name)) throw new HttpError(403, `this key may not use model '${name}'`);
  return model;
}

async function metadata(c: Context<AppEnv>, version: string | undefined) {
  const model = await allowedModel(c);
  const record = await resolveVersion(c.env, model.name, version);
  return c.json({
    name: model.name,
    versions: model.versions.filter((v) => v.state !== "unloaded").map((v) => v.version),
    platform: "onnxruntime_onnx",
    inputs: record.inputs,
    outputs: record.outputs,
    parameters: { version: record.version, placement: record.placement, max_batch: record.maxBatch, sha256: record.sha256 },
  });
}

async function ready(c: Context<AppEnv>, version: string | undefined) {
  const model = await allowedModel(c);
  const record = await resolveVersion(c.env, model.name, version);
  return c.json({ name: model.name, version: record.version, ready: true });
}
