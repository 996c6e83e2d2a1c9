/**
 * @module Tenant authentication: `Authorization: Bearer <key>` to a tenant, or 401.
 * Whether the tenant may use a particular model (403) is decided where the model is known.
 */
import { createMiddleware } from "hono/factory";
import { bearerToken } from "../../protocol/http/bearer.ts";
import { HttpError } from "../../protocol/errors.ts";
import { addTiming } from "../../protocol/http/server-timing.ts";
import { tenantForKey } from "../tenants/store.ts";
import type { AppEnv } from "../app-env.ts";

export const tenantAuth = createMiddleware<AppEnv>(async (c, next) => {
  const started = performance.now();
  const key = bearerToken(c.req.header("authorization"));
  if (!key) throw new HttpError(401, "missing API key: send Authorization: Bearer <key>");
  const tenant = await tenantForKey(c.env.KEYS, key);
  if (!tenant) throw new HttpError(401, "unknown API key");
  c.set("tenant", tenant);
  addTiming(c, "auth", performance.now() - started);
  await next();
});
