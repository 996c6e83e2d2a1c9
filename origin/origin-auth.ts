/**
 * @module Every origin route but the two health probes takes the origin token that the edge also
 * holds: 401 without a bearer token, 403 with another one. Compared through SHA-256 digests so
 * the comparison time does not depend on how much of the token matched (as at the edge).
 */
import { createMiddleware } from "hono/factory";
import { bearerToken } from "../protocol/http/bearer.ts";
import { HttpError } from "../protocol/errors.ts";
import { sha256Hex } from "../protocol/sha256.ts";

/** Open to anyone: load balancers and the edge's health checks probe them without secrets. */
export const OPEN_PATHS = new Set(["/v2/health/live", "/v2/health/ready"]);

/** @example app.use("*", originAuth(process.env.ORIGIN_TOKEN)) */
export function originAuth(token: string) {
  const expected = sha256Hex(token);
  return createMiddleware(async (c, next) => {
    if (OPEN_PATHS.has(c.req.path)) return next();
    const given = bearerToken(c.req.header("authorization"));
    if (!given) throw new HttpError(401, "missing origin token: send Authorization: Bearer <origin token>");
    if ((await sha256Hex(given)) !== (await expected)) throw new HttpError(403, "this origin needs the origin token");
    await next();
  });
}
