/**
 * @module The origin's Hono app: timing on every response and the load header on every response
 * to the holder of the origin token (the edge), the origin token on every route but the health
 * probes, the OIP routes, and the router's error mapping (so an error reads the same
 * `{"error": ...}` whether the edge or an origin answered it).
 */
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { onError, onNotFound } from "../protocol/http/error-response.ts";
import { serverTiming } from "../protocol/http/server-timing.ts";
import { traceRequests } from "../protocol/http/trace.ts";
import { holdsSecret } from "../protocol/http/bearer-auth.ts";
import { LOAD_HEADER, SERVED_BY_HEADER } from "../protocol/headers.ts";
import type { OriginContext, OriginEnv } from "./context.ts";
import { originAuth } from "./origin-auth.ts";
import { healthRoutes } from "./routes/health.ts";
import { inferRoutes } from "./routes/infer.ts";
import { modelRoutes } from "./routes/models.ts";

export function createOriginApp(context: OriginContext): Hono<OriginEnv> {
  const app = new Hono<OriginEnv>({ strict: false });
  app.use("*", serverTiming());
  // The edge's traceparent (its call as the parent span) is continued and echoed on every answer.
  app.use("*", traceRequests());
  app.use(
    "*",
    createMiddleware<OriginEnv>(async (c, next) => {
      await next();
      c.res.headers.set(SERVED_BY_HEADER, `origin:${context.config.id}`);
      // A failure is what an operator follows across hops: its line names the trace (the edge's log line has the same id).
      if (c.res.status >= 500)
        console.error(JSON.stringify({ origin: context.config.id, path: c.req.path, status: c.res.status, trace_id: c.get("trace").traceId }));
      // The edge reads the load on every answer to choose the least loaded origin. Anyone else
      // (a load balancer's probe of the open health routes, a caller without the token) learns
      // nothing of it: how busy an origin is helps whoever wants to overload it.
      if (!(await holdsSecret(c.req.header("authorization"), context.config.token))) return;
      // Set after the handler (or the error handler) so the load is the one after this request.
      const { queued, running, backlogMs, waitAheadMs, gapMs } = context.scheduler.load();
      const tenths = (ms: number) => Math.round(ms * 10) / 10;
      const waits = Object.fromEntries(Object.entries(waitAheadMs).map(([priority, ms]) => [priority, tenths(ms)]));
      c.res.headers.set(LOAD_HEADER, JSON.stringify({ queued, running, backlogMs: tenths(backlogMs), waitAheadMs: waits, gapMs: tenths(gapMs) }));
    }),
  );
  app.use("*", originAuth(context.config.token));
  app.route("/", healthRoutes(context));
  app.route("/", modelRoutes(context));
  app.route("/", inferRoutes(context));
  app.onError(onError);
  app.notFound(onNotFound);
  return app;
}
