/**
 * @module The Hono app: timing first, then the request metrics, the OIP routes, the repository
 * extension, the function API, the admin API and `/metrics`, with one error handler for all of them.
 */
import { Hono } from "hono";
import type { AppEnv } from "./app-env.ts";
import { onError, onNotFound } from "../protocol/http/error-response.ts";
import { adminModelRoutes } from "./routes/admin-models.ts";
import { adminTenantRoutes } from "./routes/admin-tenants.ts";
import { adminOriginRoutes } from "./routes/admin-origins.ts";
import { benchRoutes } from "./routes/bench.ts";
import { functionRoutes } from "./routes/functions.ts";
import { functionStreamRoutes } from "./routes/function-stream.ts";
import { internalModelRoutes } from "./routes/internal-models.ts";
import { oipInferRoutes } from "./routes/oip-infer.ts";
import { oipMetadataRoutes } from "./routes/oip-metadata.ts";
import { oipRepositoryRoutes } from "./routes/oip-repository.ts";
import { serverTiming } from "../protocol/http/server-timing.ts";
import { recordRequests } from "./metrics/record.ts";
import { traceRequests } from "../protocol/http/trace.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { dashboardRoutes } from "./routes/dashboard.ts";
import { adminUsageRoutes } from "./routes/admin-usage.ts";
import { adminAlertRoutes } from "./routes/admin-alerts.ts";

export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>({ strict: false });
  app.use("*", serverTiming());
  // Outside the metrics: the request's log line carries its trace id.
  app.use("*", traceRequests());
  // Inside the timing middleware: it reads the request's Server-Timing entries before they are written out.
  app.use("*", recordRequests);
  app.route("/", oipMetadataRoutes);
  app.route("/", oipInferRoutes);
  app.route("/", oipRepositoryRoutes);
  app.route("/", functionStreamRoutes);
  app.route("/", functionRoutes);
  app.route("/", adminModelRoutes);
  app.route("/", adminTenantRoutes);
  app.route("/", adminOriginRoutes);
  app.route("/", metricsRoutes);
  app.route("/", dashboardRoutes);
  app.route("/", adminUsageRoutes);
  app.route("/", adminAlertRoutes);
  app.route("/", benchRoutes);
  app.route("/", internalModelRoutes);
  app.onError(onError);
  app.notFound(onNotFound);
  return app;
}
