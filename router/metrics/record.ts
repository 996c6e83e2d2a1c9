/**
 * @module The middleware that counts every inference, function call and stream open once, when
 * its answer is made: the answer's status and `x-served-by`, the error it was made from (its
 * refusal reason), the models the route placed (`notePlaced`, one call in serve-work.ts) and its
 * Server-Timing entries (timing-entries.ts). All of it goes into this isolate's aggregate
 * (aggregate.ts, no I/O), then a background flush when one is due (flush.ts), and one data point
 * to Workers Analytics Engine when that binding is configured (analytics.ts), and its log line
 * when LOG_REQUESTS is on (request-log.ts).
 *
 * Label values are bounded by what exists, not by what a caller sends: the model and version
 * are those the catalog resolved (a request refused before that, such as a 401, 403 or 429, has
 * model=""), and a function label only names a function the registry has.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { functionNamed } from "../../functions/registry.ts";
import { HttpError } from "../../protocol/errors.ts";
import { SERVED_BY_HEADER } from "../../protocol/headers.ts";
import type { ModelVersionRecord } from "../../protocol/model-record.ts";
import type { AppEnv, PlacedNote } from "../app-env.ts";
import { increment, observe, sawHost, sawStreamTenant } from "./aggregate.ts";
import { writeDataPoint, type RequestPoint } from "./analytics.ts";
import { logRequest, requestLogOn } from "./request-log.ts";
import { flushWhenDue } from "./flush.ts";
import { modelCallsOf } from "./timing-entries.ts";
import { addUsage, countBytesOut, utcDay } from "./usage.ts";

const INFER_PATH = /^\/v2\/models\/[^/]+(?:\/versions\/[^/]+)?\/infer\/?$/;
const STREAM_PATH = /^\/v1\/functions\/vad\/stream\/?$/;
const FUNCTION_PATH = /^\/v1\/functions\/([^/]+)\/?$/;

/** What kind of counted request a method and path are; undefined for the routes not counted (metadata, admin, health). */
function kindOf(method: string, path: string): { function: string } | undefined {
  if (method === "POST" && INFER_PATH.test(path)) return { function: "" };
  if (method === "GET" && STREAM_PATH.test(path)) return { function: "vad-stream" };
  const call = method === "POST" ? FUNCTION_PATH.exec(path) : null;
  if (call) {
    const name = decoded(call[1]!);
    return { function: name !== undefined && functionNamed(name) ? name : "unknown" };
  }
  return undefined;
}

/** A path segment decoded, or undefined when its escapes are malformed (`%E0`, `%ZZ`): this runs before auth, on any path a client sends. */
function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Records the model a route placed for this request (serve-work.ts placeModel); a no-op on routes not counted. */
export function notePlaced(c: Context<AppEnv>, model: Pick<ModelVersionRecord, "name" | "version">, where: PlacedNote["where"]): void {
  c.get("placed")?.push({ name: model.name, version: model.version, where });
}

export const recordRequests = createMiddleware<AppEnv>(async (c, next) => {
  const kind = kindOf(c.req.method, c.req.path);
  if (!kind) return next();
  const startedAt = performance.now();
  const logging = requestLogOn(c.env);
  const placed: PlacedNote[] = [];
  c.set("placed", placed);
  // A function call or stream open is one row whatever its body; an inference's rows are its batch's (oip-infer.ts).
  c.set("usage", { bytesIn: 0, rows: kind.function === "" ? 0 : 1 });
  await next();
  const point = record(c, kind.function, placed, (performance.now() - startedAt) / 1000);
  if (logging) logRequest(c, point);
  flushWhenDue(c.env, (promise) => c.executionCtx.waitUntil(promise));
});

/** Counts the request; returns its data point (Analytics Engine's, and the log line's). */
function record(c: Context<AppEnv>, fn: string, placed: PlacedNote[], seconds: number): RequestPoint {
  const tenant = c.get("tenant");
  const tier = tenant?.tier ?? "";
  const status = c.res.status;
  const model = [...new Set(placed.map((p) => p.name))].join("+");
  const version = [...new Set(placed.map((p) => `${p.version}`))].join("+");
  const placement = placementOf(c.res.headers.get(SERVED_BY_HEADER), placed);
  const calls = modelCallsOf(c.get("metric")?.headers);
  // Only requests a variant answered carry the label: the default's series keep their names.
  const variant = calls.find((call) => call.variant !== undefined)?.variant;
  increment("requests", { model, version, tier, status: String(status), placement, function: fn, ...(variant ? { variant } : {}) });
  observe("requestDuration", { model, tier, function: fn }, seconds);

  const reason = status === 429 || status === 503 || status === 504 ? refusalReason(c.error, status) : undefined;
  if (reason) increment("refusals", { model, tier, reason });
  if (status === 101 && tenant) sawStreamTenant(tenant.id, tenant.tier);

  const single = placed.length === 1 ? placed[0] : undefined;
  let inferenceMs = 0;
  for (const call of calls) {
    inferenceMs += call.inferMs ?? 0;
    const callModel = call.model ?? single?.name ?? model;
    const callVersion = placed.find((p) => p.name === callModel)?.version ?? "";
    if (call.queueMs !== undefined) observe("queueDuration", { model: callModel, tier }, call.queueMs / 1000);
    if (call.inferMs !== undefined) observe("inferenceDuration", { model: callModel, tier }, call.inferMs / 1000);
    if (call.batchSize !== undefined && Number.isFinite(call.batchSize)) observe("batchSize", { model: callModel }, call.batchSize);
    if (call.loadMs !== undefined) increment("coldLoads", { model: callModel, version: callVersion });
    if (call.degraded !== undefined) increment("degraded", { model: callModel, version: callVersion, variant: call.variant ?? "", reason: call.degraded });
    if (call.spill !== undefined) increment("spills", { model: callModel, tier, reason: call.spill === "edge refused" ? "refused" : "backlog" });
    if (call.replica !== undefined) sawHost(hostName(call.replica, callModel));
  }
  if (tenant && model !== "") recordUsage(c, tenant.id, model, status, inferenceMs);
  const point = { tenant: tenant?.id ?? "", model, version, tier, status, placement, function: fn, reason: reason ?? "", seconds };
  writeDataPoint(c.env, point);
  return point;
}

/**
 * The request's usage, by the UTC day it ended: counted at once with what is known now; the
 * answer's bytes when its body has gone out (the response is wrapped to count them).
 */
function recordUsage(c: Context<AppEnv>, tenant: string, model: string, status: number, inferenceMs: number): void {
  const day = utcDay(Date.now());
  const noted = c.get("usage") ?? { bytesIn: 0, rows: 0 };
  // Rows are billed for answered work only: a refused or failed request ran none.
  addUsage(day, tenant, model, { requests: 1, rows: status < 300 ? noted.rows : 0, inferenceMs, bytesIn: noted.bytesIn });
  if (status === 101) return;
  c.res = countBytesOut(c.res, (bytes) => {
    addUsage(day, tenant, model, { bytesOut: bytes });
    flushWhenDue(c.env, (promise) => c.executionCtx.waitUntil(promise));
  });
}

/** Where the answer ran (from x-served-by: `edge:...`, `origin:...`, or both for a pipeline), else where it was planned, else none. */
function placementOf(servedBy: string | null, placed: PlacedNote[]): string {
  const served = new Set((servedBy ?? "").split(",").flatMap((hop) => (hop.trim() === "" ? [] : [hop.trim().split(":")[0]!])));
  if (served.size === 1) return [...served][0]!;
  if (served.size > 1) return "mixed";
  const planned = new Set(placed.flatMap((p) => (p.where === "none" ? [] : [p.where === "pool" ? "origin" : "edge"])));
  return planned.size === 1 ? [...planned][0]! : planned.size > 1 ? "mixed" : "none";
}

/** The refusal's own reason; else by status: 504 is always a deadline, other 429s and 503s are named by their status. */
function refusalReason(error: Error | undefined, status: number): string {
  if (error instanceof HttpError && error.reason) return error.reason;
  return status === 504 ? "deadline" : status === 429 ? "tenant_limit" : "unavailable";
}

/** `<region>:<model>:<replica>`, the ModelHost's name (router/placement/model-host.ts), from Server-Timing's `replica;desc="<region>/<replica>"`. */
function hostName(replica: string, model: string): string {
  const [region, index] = replica.split("/");
  return `${region}:${model}:${index}`;
}
