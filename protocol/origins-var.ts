/**
 * @module The ORIGINS var (`[{"id", "url"}]`): read by the routers' origin pool and by the
 * Alerts object's own health checks alike, so both take the same origins and both refuse one
 * whose token would travel in clear.
 */
import { HttpError } from "./errors.ts";

/** An origin as the ORIGINS var lists it. */
export interface OriginEndpoint {
  id: string;
  url: string;
}

/** The origins, or a 500 naming what is wrong with the var (every request fails until it is fixed). */
export function parseOrigins(raw: string): OriginEndpoint[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new HttpError(500, `ORIGINS must be a JSON array of {"id", "url"}, got ${raw.slice(0, 80)}`);
  }
  if (!Array.isArray(parsed)) throw new HttpError(500, "ORIGINS must be a JSON array");
  return parsed.map((entry, k) => {
    const { id, url } = (entry ?? {}) as Record<string, unknown>;
    if (typeof id !== "string" || typeof url !== "string" || !/^https?:\/\//.test(url))
      throw new HttpError(500, `ORIGINS[${k}] needs a string id and an http(s) url`);
    let host: string;
    try {
      host = new URL(url).hostname;
    } catch {
      throw new HttpError(500, `ORIGINS[${k}] (${id}): '${url.slice(0, 80)}' is not a URL`);
    }
    // Every call carries the ORIGIN_TOKEN: over plain http it would travel in clear.
    if (url.startsWith("http://") && !isLoopback(host))
      throw new HttpError(
        500,
        `ORIGINS[${k}] (${id}): http:// is allowed only on loopback (127.0.0.0/8, localhost, [::1]), or the ORIGIN_TOKEN would travel in clear; use https://`,
      );
    return { id, url: url.replace(/\/+$/, "") };
  });
}

/**
 * A loopback host as the URL parser writes it (it has already turned "127.1" or "2130706433" into
 * dotted quads and lowercased names), so "127.0.0.1.example.com" is not one.
 */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127(\.\d{1,3}){3}$/.test(hostname);
}
