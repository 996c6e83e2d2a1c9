/**
 * @module Admin routes take only the admin token (a Worker secret), never a tenant key.
 * Compared through SHA-256 digests so the comparison time does not depend on the token.
 */
import { createMiddleware } from "hono/factory";
import { HttpError } from "../../protocol/errors.ts";
import { sha256Hex } from "../../protocol/sha256.ts";
import type { AppEnv } from "../app-env.ts";
import { tenantForKey } from "../tenants/store.ts";
import { bearerToken } from "../../protocol/http/bearer.ts";

export const adminAuth = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  if (!token) throw new HttpError(401, "missing admin token: send Authorization: Bearer <admin token>");
  if (!c.env.ADMIN_TOKEN) throw new HttpError(503, "the admin API is disabled: no ADMIN_TOKEN secret is set");
  const [given, expected] = await Promise.all([sha256Hex(token), sha256Hex(c.env.ADMIN_TOKEN)]);
  if (given !== expected) {
    // A valid tenant key is a known caller without the right (403); anything else is a bad token.
    if (await tenantForKey(c.env.KEYS, token)) throw new HttpError(403, "tenant keys cannot use admin routes");
    throw new HttpError(401, "invalid admin token");
  }
  await next();
});
