/**
 * @module The one middleware factory for routes that take a single shared secret as
 * `Authorization: Bearer <token>`: the edge's admin API (ADMIN_TOKEN), the edge's internal routes
 * for origins and every origin route (ORIGIN_TOKEN). 401 without a token, 503 while the secret is
 * not configured, 403 (or what `onMismatch` says) for another token. Tokens are compared through
 * their SHA-256 digests, so the time taken does not depend on how much of a guess matched.
 * Tenant keys are looked up, not compared: router/middleware/tenant-auth.ts.
 */
import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { HttpError } from "../errors.ts";
import { sha256Hex } from "../sha256.ts";
import { bearerToken } from "./bearer.ts";

export interface SecretAuthOptions {
  /** What the secret is called in messages, e.g. "admin token". */
  name: string;
  /** The secret, read per request (a Worker reads it from its env); undefined or "" when not set. */
  secret: (c: Context) => string | undefined;
  /** The 503 message while no secret is set: the routes are off rather than open. */
  disabledMessage: string;
  /** The error for a token that is not the secret; 403 by default. */
  onMismatch?: (c: Context, token: string) => Promise<HttpError>;
  /** Paths open to anyone (health probes). */
  openPaths?: ReadonlySet<string>;
}

/**
 * Whether `header` carries `secret` as its bearer token, for an open route that says more to the
 * holder of the secret (the origin's ready probe). Compared through digests, as in secretAuth.
 *
 * @example if (await holdsSecret(c.req.header("authorization"), token)) return c.json(fullReport)
 */
export async function holdsSecret(header: string | undefined, secret: string | undefined): Promise<boolean> {
  const token = bearerToken(header);
  if (!token || !secret) return false;
  return (await sha256Hex(token)) === (await sha256Hex(secret));
}

/** @example app.use("/admin/*", secretAuth({ name: "admin token", secret: (c) => c.env.ADMIN_TOKEN, disabledMessage: "..." })) */
export function secretAuth(options: SecretAuthOptions): MiddlewareHandler {
  // One digest per distinct secret: a Worker's secret is fixed for the isolate's life.
  let digestOf: { secret: string; digest: Promise<string> } | undefined;
  return createMiddleware(async (c, next) => {
    if (options.openPaths?.has(c.req.path)) return next();
    const token = bearerToken(c.req.header("authorization"));
    if (!token) throw new HttpError(401, `missing ${options.name}: send Authorization: Bearer <${options.name}>`);
    const secret = options.secret(c);
    if (!secret) throw new HttpError(503, options.disabledMessage);
    if (digestOf?.secret !== secret) digestOf = { secret, digest: sha256Hex(secret) };
    if ((await sha256Hex(token)) !== (await digestOf.digest)) {
      throw options.onMismatch ? await options.onMismatch(c, token) : new HttpError(403, `this route needs the ${options.name}`);
    }
    await next();
  });
}
