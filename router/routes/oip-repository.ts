/**
 * @module The OIP model_repository extension: list the repository and load or unload a model.
 * Changing what is served is an operator's act, so these take the admin token.
 *
 * A version still being added (`warming`: a host warming it, or the origins still loading an
 * `origin` model whose signature is not known yet) is reported as LOADING and is left to its
 * upload by load and unload alike: load never marks it ready before it can serve.
 */
import { Hono, type Context } from "hono";
import { HttpError } from "../../protocol/errors.ts";
import type { ModelRecord, ModelVersionRecord, VersionState } from "../../protocol/model-record.ts";
import type { AppEnv } from "../app-env.ts";
import { invalidateCatalog, registry, registryModels } from "../catalog.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { modelHostFor } from "../placement/model-host.ts";
import { regionOf } from "../placement/region.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";

export const oipRepositoryRoutes = new Hono<AppEnv>();
oipRepositoryRoutes.use("/v2/repository/*", adminAuth);

/** Triton's repository states. */
const INDEX_STATE: Record<VersionState, { state: string; reason: string }> = {
  ready: { state: "READY", reason: "" },
  warming: { state: "LOADING", reason: "being added: not served by default until it is loaded" },
  unloaded: { state: "UNAVAILABLE", reason: "unloaded" },
};

oipRepositoryRoutes.post("/v2/repository/index", async (c) => {
  const models = await registryModels(c.env);
  return c.json(models.flatMap((model) => model.versions.map((v) => ({ name: model.name, version: v.version, ...INDEX_STATE[v.state] }))));
});

const versionStates = (versions: ModelVersionRecord[]) => versions.map((v) => ({ version: v.version, state: INDEX_STATE[v.state].state }));

oipRepositoryRoutes.post("/v2/repository/models/:model/load", async (c) => {
  const name = c.req.param("model");
  const record = unwrapReply(await registry(c.env).setState(name, undefined, "ready"));
  invalidateCatalog(name);
  // Loaded means something serves: a model whose only versions are still being added does not yet.
  if (!record.versions.some((v) => v.state === "ready")) {
    const loading = record.versions.filter((v) => v.state === "warming").map((v) => `'${v.version}'`);
    throw new HttpError(503, `model '${name}' is still being loaded (version ${loading.join(", ")}); it is ready when its upload completes`, 5);
  }
  await warmDefault(c, record);
  return c.json({ name, loaded: true, versions: versionStates(record.versions) });
});

oipRepositoryRoutes.post("/v2/repository/models/:model/unload", async (c) => {
  const name = c.req.param("model");
  const record = unwrapReply(await registry(c.env).setState(name, undefined, "unloaded"));
  invalidateCatalog(name);
  return c.json({ name, unloaded: true, versions: versionStates(record.versions) });
});

/**
 * Load puts the model in memory, as Triton's does: the first replica of this region warms the
 * version requests run by default, so the first request after a load (or after the stack
 * restarts) does not pay for creating the session. Origin-placed versions are the origins' to
 * load. A host that cannot warm now loads on the first request instead: not a reason to fail.
 */
async function warmDefault(c: Context<AppEnv>, record: ModelRecord): Promise<void> {
  const served = record.versions.find((v) => v.version === record.defaultVersion);
  if (!served || served.placement === "origin") return;
  const host = modelHostFor(c.env, regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined), record.name);
  const warmed = await host.stub.warm(served).catch((error: unknown) => ({ ok: false, error }));
  if (!warmed.ok) console.warn(`load: ${record.name}@${served.version} did not warm on ${host.name}`, warmed);
}
