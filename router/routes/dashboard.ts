/**
 * @module The live dashboard: `GET /dashboard` (the page), `GET /dashboard/{file}` (its scripts and
 * styles, uPlot's among them) and `GET /admin/metrics/summary` (admin token), the JSON the page
 * polls: the totals and gauges of `GET /metrics`, read the same way (this isolate's counts
 * flushed first) and grouped for the charts (router/dashboard/summary.ts).
 *
 * The page and its files are public (they hold no data); the summary needs the admin token, which
 * the page sends as `Authorization: Bearer`. Every answer here forbids caching (the summary holds
 * data, and a page cached across a deploy would pair old scripts with a new summary), sniffing and
 * framing, and the CSP lets the page run only its own scripts: none inline, no eval, no other origin.
 */
import { Hono } from "hono";
import { createMiddleware } from "hono/factory";
import { METRICS_NAME } from "../../durable-objects/metrics/contract.ts";
import { HttpError } from "../../protocol/errors.ts";
import type { AppEnv } from "../app-env.ts";
import { DASHBOARD_FILES, DASHBOARD_PAGE, type DashboardAsset } from "../dashboard/assets.ts";
import { dashboardSummary } from "../dashboard/summary.ts";
import { storeRead } from "../kv-read.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { applyToStore, flushNow } from "../metrics/flush.ts";
import { liveGauges, scrapeHostLimit } from "../metrics/live-gauges.ts";

export const SUMMARY_PATH = "/admin/metrics/summary";

/**
 * Scripts and styles from this origin only (uPlot sets its element styles from script, which
 * style-src does not govern); fetches to this origin only; forms submit nowhere; no framing.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // data: for the page's empty icon only (it spares a request for /favicon.ico); no script can use it.
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": DASHBOARD_CSP,
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};

/** Set after the route, on errors (a 401 from the summary, a 404) as on answers. */
const securityHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(name, value);
});

export const dashboardRoutes = new Hono<AppEnv>();
dashboardRoutes.use("/dashboard", securityHeaders);
dashboardRoutes.use("/dashboard/*", securityHeaders);
dashboardRoutes.use(SUMMARY_PATH, securityHeaders, adminAuth);

const serve = (asset: DashboardAsset) => new Response(asset.body, { headers: { "content-type": asset.contentType } });

dashboardRoutes.get("/dashboard", () => serve(DASHBOARD_PAGE));

dashboardRoutes.get("/dashboard/:file", (c) => {
  const asset = DASHBOARD_FILES.get(c.req.param("file"));
  if (!asset) throw new HttpError(404, `no dashboard file ${c.req.param("file")}`);
  return serve(asset);
});

dashboardRoutes.get(SUMMARY_PATH, async (c) => {
  // As GET /metrics: a failed flush keeps its batch for the next one, and the totals are still worth answering with.
  await flushNow(applyToStore(c.env)).catch((error: unknown) => console.error("flushing metrics before a dashboard poll failed", error));
  const totals = await storeRead("the metrics store", () => c.env.METRICS.getByName(METRICS_NAME).totals(scrapeHostLimit(c.env)));
  const gauges = await liveGauges(c.env, totals);
  return c.json(dashboardSummary(totals, gauges, Date.now()));
});
