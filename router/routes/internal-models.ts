/**
 * @module What an origin server fetches from the edge: a model version's record and its bytes
 * (streamed from R2, with their sha256 in a header so the origin verifies what it caches).
 */
import { Hono } from "hono";
import { HttpError } from "../../protocol/errors.ts";
import { MODEL_SHA256_HEADER } from "../../protocol/headers.ts";
import type { AppEnv } from "../app-env.ts";
import type { ModelVersionRecord } from "../../protocol/model-record.ts";
import { registryModel } from "../catalog.ts";
import { storeRead } from "../kv-read.ts";
import { originAuth } from "../middleware/origin-auth.ts";

export const internalModelRoutes = new Hono<AppEnv>();
internalModelRoutes.use("/internal/*", originAuth);

/**
 * Read from the registry itself, not the router's cached catalog: an origin is usually asked to
 * load a version moments after it was added, before KV or another isolate's cache has it.
 */
async function versionRecord(env: Env, name: string, version: string): Promise<ModelVersionRecord> {
  const record = (await registryModel(env, name))?.versions.find((v) => v.version === version);
  if (!record) throw new HttpError(404, `unknown version '${version}' of model '${name}'`);
  return record;
}

internalModelRoutes.get("/internal/models/:name/versions/:version", async (c) => {
  return c.json(await versionRecord(c.env, c.req.param("name"), c.req.param("version")));
});

internalModelRoutes.get("/internal/models/:name/versions/:version/bytes", async (c) => {
  const record = await versionRecord(c.env, c.req.param("name"), c.req.param("version"));
  const object = await storeRead("the model store", () => c.env.MODELS.get(record.r2Key));
  if (!object) throw new HttpError(503, `model bytes of ${record.name}@${record.version} are missing from storage`, 5);
  return new Response(object.body, {
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(object.size),
      [MODEL_SHA256_HEADER]: record.sha256,
    },
  });
});
