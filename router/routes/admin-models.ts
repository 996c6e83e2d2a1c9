/**
 * @module Admin model management: upload a version (model-upload.ts), its variants (admin-variants.ts), delete a version, pin the
 * default, inspect state.
 */
import { Hono } from "hono";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { unloadOnPool } from "../origin-pool/origin-admin.ts";
import { unloadVariantsOnPool } from "../variants/pool-variant.ts";
import type { AppEnv } from "../app-env.ts";
import { findModel, invalidateCatalog, registry, registryModel, registryModels } from "../catalog.ts";
import { storeRead } from "../kv-read.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { modelHostFor } from "../placement/model-host.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import { regionOf } from "../placement/region.ts";
import { replicaSetsOf } from "../placement/replica-set.ts";
import { uploadVersion } from "./model-upload.ts";
import { deleteVariant, uploadVariant } from "./admin-variants.ts";

export const adminModelRoutes = new Hono<AppEnv>();
adminModelRoutes.use("/admin/models/*", adminAuth);
adminModelRoutes.use("/admin/models", adminAuth);

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
  const lifecycle = await storeRead("the model registry", () => registry(c.env).lifecycle(name));
  // The replica sets are per isolate: this shows what the isolate answering sees and sends.
  return c.json({ ...model, ...lifecycle, hosts: [state], replicas: replicaSetsOf(name) });
});

adminModelRoutes.put("/admin/models/:name/versions/:version", uploadVersion);
adminModelRoutes.put("/admin/models/:name/versions/:version/variants/:variant", uploadVariant);
adminModelRoutes.delete("/admin/models/:name/versions/:version/variants/:variant", deleteVariant);

/**
 * `?force=true` is needed to delete the default or the last ready version (409 otherwise). The
 * registry publishes the record without the version and the hosts drop their sessions at once;
 * the bytes stay in R2 until no router can still route to them (`bytesRemovedAt`), and the
 * registry's alarm removes them then. Origins are told to unload the version (and its variants
 * placed there) in the background,
 * since an origin that is down or slow must not fail a delete the registry has already made.
 */
adminModelRoutes.delete("/admin/models/:name/versions/:version", async (c) => {
  const force = c.req.query("force") === "true";
  const removed = unwrapReply(await registry(c.env).remove(c.req.param("name"), c.req.param("version"), force));
  invalidateCatalog(removed.name);
  if (removed.placement !== "edge") c.executionCtx.waitUntil(unloadOnPool(c.env, removed.name, removed.version));
  unloadVariantsOnPool(c, removed.name, removed.version, removed.variants ?? []);
  return c.json({ deleted: { name: removed.name, version: removed.version }, bytesRemovedAt: new Date(removed.bytesRemovedAt).toISOString() });
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
