/**
 * @module Admin tenant management: create or change a tenant (tier, allowed models), issue an
 * API key (shown once), list key ids, revoke a key.
 */
import { Hono } from "hono";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { NAME_PATTERN } from "../../protocol/model-record.ts";
import type { AppEnv } from "../app-env.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { isTier, TIER_NAMES } from "../../config/tiers.ts";
import { createKey, getTenant, listKeyIds, putTenant, revokeKey } from "../tenants/store.ts";

export const adminTenantRoutes = new Hono<AppEnv>();
adminTenantRoutes.use("/admin/tenants/*", adminAuth);

/** Body `{"tier": "premium", "models": ["*"]}`. */
adminTenantRoutes.put("/admin/tenants/:id", async (c) => {
  const id = c.req.param("id");
  if (!NAME_PATTERN.test(id)) throw badRequest(`tenant id '${id}' must match ${NAME_PATTERN.source}`);
  const body = await c.req.json<{ tier?: unknown; models?: unknown }>().catch(() => {
    throw badRequest('body must be JSON: {"tier": "free|standard|premium", "models": ["*"]}');
  });
  if (!isTier(body.tier)) throw badRequest(`tier must be one of ${TIER_NAMES.join(", ")}`);
  const models = body.models ?? ["*"];
  if (!Array.isArray(models) || !models.every((m) => typeof m === "string" && (m === "*" || NAME_PATTERN.test(m)))) {
    throw badRequest('models must be an array of model names or "*"');
  }
  const existing = await getTenant(c.env.KEYS, id);
  const tenant = { id, tier: body.tier, models: models as string[], createdAt: existing?.createdAt ?? Date.now() };
  await putTenant(c.env.KEYS, tenant);
  return c.json(tenant, existing ? 200 : 201);
});

adminTenantRoutes.get("/admin/tenants/:id", async (c) => {
  const tenant = await getTenant(c.env.KEYS, c.req.param("id"));
  if (!tenant) throw new HttpError(404, `unknown tenant '${c.req.param("id")}'`);
  return c.json({ ...tenant, keyIds: await listKeyIds(c.env.KEYS, tenant.id) });
});

adminTenantRoutes.post("/admin/tenants/:id/keys", async (c) => {
  const tenant = await getTenant(c.env.KEYS, c.req.param("id"));
  if (!tenant) throw new HttpError(404, `unknown tenant '${c.req.param("id")}'`);
  const { key, keyId } = await createKey(c.env.KEYS, tenant.id);
  return c.json({ key, keyId, tenant: tenant.id, tier: tenant.tier, note: "the key is shown once; only its SHA-256 is stored" }, 201);
});

adminTenantRoutes.delete("/admin/tenants/:id/keys/:keyId", async (c) => {
  await revokeKey(c.env.KEYS, c.req.param("id"), c.req.param("keyId"));
  return c.json({ revoked: c.req.param("keyId") });
});
