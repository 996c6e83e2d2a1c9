/**
 * @module The OIP model_repository extension: list the repository and load or unload a model.
 * Changing what is served is an operator's act, so these take the admin token.
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { invalidateCatalog, registry, registryModels } from "../catalog.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";

export const oipRepositoryRoutes = new Hono<AppEnv>();
oipRepositoryRoutes.use("/v2/repository/*", adminAuth);

oipRepositoryRoutes.post("/v2/repository/index", async (c) => {
  const models = await registryModels(c.env);
  return c.json(
    models.flatMap((model) =>
      model.versions.map((v) => ({ name: model.name, version: v.version, state: v.state === "ready" ? "READY" : v.state.toUpperCase(), reason: "" })),
    ),
  );
});

for (const action of ["load", "unload"] as const) {
  oipRepositoryRoutes.post(`/v2/repository/models/:model/${action}`, async (c) => {
    const name = c.req.param("model");
    unwrapReply(await registry(c.env).setState(name, undefined, action === "load" ? "ready" : "unloaded"));
    invalidateCatalog(name);
    return c.json({ name, [action === "load" ? "loaded" : "unloaded"]: true });
  });
}
