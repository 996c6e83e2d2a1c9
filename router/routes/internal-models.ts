/**
 * @module What an origin server fetches from the edge: a model version's (or a variant's) record
 * and its bytes (streamed from R2, with their sha256 in a header so the origin verifies what it caches).
 */
import { Hono } from "hono";
import { HttpError } from "../../protocol/errors.ts";
import { MODEL_SHA256_HEADER } from "../../protocol/headers.ts";
import type { AppEnv } from "../app-env.ts";
import { splitServedVersion, type ModelVersionRecord } from "../../protocol/model-record.ts";
import { registry, registryModel } from "../catalog.ts";
import { variantAsVersion } from "../placement/variant-choice.ts";
import { storeRead } from "../kv-read.ts";
import { originAuth } from "../middleware/origin-auth.ts";

export const internalModelRoutes = new Hono<AppEnv>();
internalModelRoutes.use("/internal/*", originAuth);

/**
 * Read from the registry itself, not the router's cached catalog: an origin is usually asked to
 * load a version moments after it was added, before KV or another isolate's cache has it. A
 * variant is asked for by its served version (`<version>~<variant>`, which no user's version can
 * be) and answered as the version's record with the variant's bytes under that name, the name the
 * origin keeps and caches it under; one its upload is still adding is found among the staged ones.
 */
async function servedRecord(env: Env, name: string, served: string): Promise<ModelVersionRecord> {
  const parsed = splitServedVersion(served);
  if (!parsed) throw new HttpError(404, `unknown version '${served}' of model '${name}'`);
  const record = (await registryModel(env, name))?.versions.find((v) => v.version === parsed.version);
  if (!record) throw new HttpError(404, `unknown version '${parsed.version}' of model '${name}'`);
  if (parsed.variant === undefined) return record;
  const wanted = parsed.variant;
  const variant =
    record.variants?.find((v) => v.variant === wanted) ??
    (await storeRead("the model registry", async () => (await registry(env).stagedVariant(name, parsed.version, wanted)) ?? null));
  if (!variant) throw new HttpError(404, `unknown variant '${wanted}' of version '${parsed.version}' of model '${name}'`);
  // The served name is the whole of its name on the origin: the record carries no `variant` beside it.
  const { variant: _, ...asVersion } = variantAsVersion(record, variant);
  return { ...asVersion, version: served };
}

internalModelRoutes.get("/internal/models/:name/versions/:version", async (c) => {
  return c.json(await servedRecord(c.env, c.req.param("name"), c.req.param("version")));
});

internalModelRoutes.get("/internal/models/:name/versions/:version/bytes", async (c) => {
  const record = await servedRecord(c.env, c.req.param("name"), c.req.param("version"));
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
