/**
 * @module Server metadata and health. Ready means every model assigned to this origin is warm.
 * To the holder of the origin token the ready body also carries what the edge's pool weighs
 * origins by: the queue, the predicted backlog, and per model its state, outstanding requests
 * and service-time estimates. Anyone else learns ready or not, and nothing more.
 */
import { Hono } from "hono";
import { HttpError } from "../../protocol/errors.ts";
import { holdsSecret } from "../../protocol/http/bearer-auth.ts";
import { errorResponse } from "../../protocol/http/error-response.ts";
import type { OriginContext, OriginEnv } from "../context.ts";
import type { ModelEntry } from "../model-store.ts";

export const ORIGIN_VERSION = "0.1.0";
export const EXTENSIONS = ["binary_tensor_data", "schedule_policy", "model_repository"];

export function healthRoutes(context: OriginContext): Hono<OriginEnv> {
  const routes = new Hono<OriginEnv>();
  routes.get("/v2", (c) => c.json({ name: "hotpath-origin", version: ORIGIN_VERSION, extensions: EXTENSIONS }));
  routes.get("/v2/health/live", (c) => c.json({ live: true }));
  routes.get("/v2/health/ready", async (c) => {
    const { store, scheduler, provider, config } = context;
    const ready = store.allReady();
    // The route is open (load balancers probe it without secrets), but the report names the
    // models and why one failed to load (onnxruntime's message, paths): only the holder of the
    // origin token (the edge's health checks, which read `models` and `load`) gets it.
    if (!(await holdsSecret(c.req.header("authorization"), config.token))) {
      return ready ? c.json({ ready: true }) : errorResponse(new HttpError(503, "not ready", 2), { ready: false });
    }
    const serviceTimes = scheduler.serviceTimes();
    const body = {
      ready,
      id: config.id,
      ep: provider.ep,
      ...(provider.fallbackReason ? { epFallback: provider.fallbackReason } : {}),
      batching: config.batching,
      uptimeMs: Date.now() - context.startedAt,
      load: scheduler.load(),
      counters: scheduler.counters,
      models: store.entries().map((entry) => describe(entry, serviceTimes[`${entry.name}@${entry.version}`] ?? [])),
    };
    // OIP: the status code is the answer; the body says what is still missing.
    if (ready) return c.json(body);
    const waiting = store
      .entries()
      .filter((e) => e.state !== "ready")
      .map((e) => `${e.name}@${e.version} ${e.state}`);
    return errorResponse(new HttpError(503, `not ready: ${waiting.join(", ")}`, 2), body);
  });
  return routes;
}

function describe(entry: ModelEntry, serviceTimes: unknown[]) {
  return {
    name: entry.name,
    version: entry.version,
    state: entry.state,
    ...(entry.error && entry.state !== "ready" ? { error: entry.error } : {}),
    outstanding: entry.requests.count,
    maxBatch: entry.host?.maxBatch,
    source: entry.source,
    loadMs: entry.loadMs === undefined ? undefined : Math.round(entry.loadMs),
    serviceTimes,
  };
}
