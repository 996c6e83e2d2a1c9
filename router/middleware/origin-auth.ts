/**
 * @module Internal routes between the edge and its origin pool take only the shared origin
 * token (a Worker secret, the same one the origins are started with), never a tenant key or the
 * admin token.
 */
import { createMiddleware } from "hono/factory";
import { HttpError } from "../../protocol/errors.ts";
import { sha256Hex } from "../../protocol/sha256.ts";
import type { AppEnv } from "../app-env.ts";
import { bearerToken } from "../../protocol/http/bearer.ts";

export const originAuth = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  if (!token) throw new HttpError(401, "missing origin token: send Authorization: Bearer <origin token>");
  if (!c.env.ORIGIN_TOKEN) throw new HttpError(503, "internal routes are disabled: no ORIGIN_TOKEN secret is set");
  const [given, expected] = await Promise.all([sha256Hex(token), sha256Hex(c.env.ORIGIN_TOKEN)]);
  if (given !== expected) throw new HttpError(403, "this route needs the origin token");
  await next();
});
