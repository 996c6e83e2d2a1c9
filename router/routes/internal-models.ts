/**
 * @module What an origin server fetches from the edge: a model version's record and its bytes
 * (streamed from R2, with their sha256 in a header so the origin verifies what it caches).
 */
import { Hono } from "hono";
import { HttpError } from "../../protocol/errors.ts";
import type { AppEnv } from "../app-env.ts";
import { resolveVersion } from "../catalog.ts";
import { originAuth } from "../middleware/origin-auth.ts";

export const internalModelRoutes = new Hono<AppEnv>();
internalModelRoutes.use("/internal/*", originAuth);

internalModelRoutes.get("/internal/models/:name/versions/:version", async (c) => {
  return c.json(await resolveVersion(c.env, c.req.param("name"), c.req.param("version")));
});

internalModelRoutes.get("/internal/models/:name/versions/:version/bytes", async (c) => {
  const record = await resolveVersion(c.env, c.req.param("name"), c.req.param("version"));
  const object = await c.env.MODELS.get(record.r2Key);
  if (!object) throw new HttpError(503, `model bytes of ${record.name}@${record.version} are missing from storage`, 5);
  return new Response(object.body, {
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(object.size),
      "x-model-sha256": record.sha256,
    },
  });
});
