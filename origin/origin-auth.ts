/**
 * @module Every origin route but the two health probes takes the origin token that the edge also
 * holds: 401 without a bearer token, 403 with another one (the same rule as the edge's).
 */
import { secretAuth } from "../protocol/http/bearer-auth.ts";

/**
 * Open to anyone: load balancers probe them without secrets. The ready probe says only ready or
 * not to them; its full report (models, load, errors) needs the token (origin/routes/health.ts).
 */
export const OPEN_PATHS: ReadonlySet<string> = new Set(["/v2/health/live", "/v2/health/ready"]);

/** @example app.use("*", originAuth(process.env.ORIGIN_TOKEN)) */
export function originAuth(token: string) {
  return secretAuth({ name: "origin token", secret: () => token, disabledMessage: "this origin has no origin token", openPaths: OPEN_PATHS });
}
