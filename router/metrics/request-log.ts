/**
 * @module One structured JSON line per counted request (console.log: Workers Logs collects it in a
 * deployed Worker), written by the metrics middleware (record.ts) from what it already gathered:
 * tenant id, model, version, function, tier, status, placement and `x-served-by`, the Server-Timing
 * durations, the trace id, and the error message of a 4xx or 5xx. Never a key, a token or a
 * payload: the request's headers and bodies are not read here, and the path is logged without
 * its query string.
 *
 * LOG_REQUESTS turns it on ("1", wrangler.toml's default) or off ("0": `npm start` without
 * --log-requests, where each line costs the router's thread a call into Node).
 */
import type { Context } from "hono";
import { choiceVar, VAR_DEFAULTS } from "../../config/vars.ts";
import { SERVED_BY_HEADER } from "../../protocol/headers.ts";
import type { AppEnv } from "../app-env.ts";
import type { RequestPoint } from "./analytics.ts";

/** An error message is the route's own words, but a long one (a list of a model's inputs) would crowd the line. */
const MAX_ERROR_CHARS = 300;
const DURATION_ENTRY = /^([A-Za-z0-9_-]+);dur=([0-9.eE+-]+)/;

/** Whether to write the lines; a value other than "0" or "1" stops the request with an error that names the var. */
export function requestLogOn(env: Env): boolean {
  return choiceVar("LOG_REQUESTS", env.LOG_REQUESTS, ["0", "1"], VAR_DEFAULTS.LOG_REQUESTS) === "1";
}

export function logRequest(c: Context<AppEnv>, point: RequestPoint): void {
  const line: Record<string, unknown> = {
    msg: "request",
    trace_id: c.get("trace")?.traceId,
    method: c.req.method,
    path: c.req.path,
    tenant: point.tenant,
    model: point.model,
    version: point.version,
    function: point.function,
    tier: point.tier,
    status: point.status,
    placement: point.placement,
    served_by: c.res.headers.get(SERVED_BY_HEADER) ?? "",
    duration_ms: Math.round(point.seconds * 100_000) / 100,
    timings_ms: durationsOf(c.get("metric")?.headers),
  };
  if (point.reason !== "") line.reason = point.reason;
  if (point.status >= 400) line.error = (c.error?.message ?? "").slice(0, MAX_ERROR_CHARS);
  console.log(JSON.stringify(line));
}

/** The Server-Timing durations by name (`host`, `queue`, `infer`, `load`, `origin`, ...), a name's calls added up in a pipeline. */
function durationsOf(entries: readonly string[] | undefined): Record<string, number> {
  const durations: Record<string, number> = {};
  for (const entry of entries ?? []) {
    const match = DURATION_ENTRY.exec(entry);
    if (!match) continue;
    const ms = Number(match[2]);
    if (Number.isFinite(ms)) durations[match[1]!] = Math.round(((durations[match[1]!] ?? 0) + ms) * 100) / 100;
  }
  return durations;
}
