/**
 * @module Tenant authentication: `Authorization: Bearer <key>` to a tenant, or 401.
 * Everything that can be refused without I/O is refused first, so that a flood of garbage costs
 * neither a KV read nor a cache entry: a missing or malformed key (401), then a model name or
 * version in the path that no model can have (400). Only then is the key looked up.
 * Whether the tenant may use a particular model (403) is decided by the route, before it looks
 * the model up.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { bearerToken } from "../../protocol/http/bearer.ts";
import { HttpError } from "../../protocol/errors.ts";
import { NAME_PATTERN } from "../../protocol/model-record.ts";
import { addTiming } from "../../protocol/http/server-timing.ts";
import { tenantForKey } from "../tenants/store.ts";
import { isWellFormedKey } from "../tenants/records.ts";
import type { AppEnv } from "../app-env.ts";

export const tenantAuth = tenantAuthFrom((c) => bearerToken(c.req.header("authorization")), "send Authorization: Bearer <key>");

/** The same, with the key found by `keyOf` (a WebSocket upgrade also takes it as a subprotocol); `howToSend` ends the 401 without one. */
export function tenantAuthFrom(keyOf: (c: Context<AppEnv>) => string | undefined, howToSend: string) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = performance.now();
    const key = keyOf(c);
    if (!key) throw new HttpError(401, `missing API key: ${howToSend}`);
    if (!isWellFormedKey(key)) throw new HttpError(401, "unknown API key: not of the form hotpath issues (hp_ and 43 base64url characters)");
    checkModelPath(c.req.param("model"), c.req.param("version"));
    const tenant = await tenantForKey(c.env.KEYS, key);
    if (!tenant) throw new HttpError(401, "unknown API key");
    c.set("tenant", tenant);
    addTiming(c, "auth", performance.now() - started);
    await next();
  });
}

/** 400 for a model name or version in the path that NAME_PATTERN rules out: no upload can have it (admin-models.ts). */
function checkModelPath(model: string | undefined, version: string | undefined): void {
  if (model !== undefined && !NAME_PATTERN.test(model)) throw new HttpError(400, `model name '${clip(model)}' must match ${NAME_PATTERN.source}`);
  if (version !== undefined && !NAME_PATTERN.test(version)) throw new HttpError(400, `version '${clip(version)}' must match ${NAME_PATTERN.source}`);
}

/** Echoes at most 64 characters (the longest valid name) of what the caller sent: a long name makes no long answer. */
const clip = (text: string) => (text.length > 64 ? `${text.slice(0, 64)}...` : text);
