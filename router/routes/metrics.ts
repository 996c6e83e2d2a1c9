/**
 * @module `GET /metrics` (admin token): the Prometheus text format. This isolate's own counts are
 * flushed first, so a scrape sees everything it itself served; the totals of every isolate come
 * from the Metrics object; the gauges are asked for now (live-gauges.ts).
 */
import { Hono } from "hono";
import { METRICS_NAME } from "../../durable-objects/metrics/contract.ts";
import type { AppEnv } from "../app-env.ts";
import { storeRead } from "../kv-read.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { EXPOSITION_CONTENT_TYPE, renderExposition } from "../metrics/exposition.ts";
import { applyToStore, flushNow } from "../metrics/flush.ts";
import { liveGauges, scrapeHostLimit } from "../metrics/live-gauges.ts";

export const metricsRoutes = new Hono<AppEnv>();
metricsRoutes.use("/metrics", adminAuth);

metricsRoutes.get("/metrics", async (c) => {
  // A failed flush keeps its batch for the next one; the totals below are still worth answering with.
  await flushNow(applyToStore(c.env)).catch((error: unknown) => console.error("flushing metrics before a scrape failed", error));
  const totals = await storeRead("the metrics store", () => c.env.METRICS.getByName(METRICS_NAME).totals(scrapeHostLimit(c.env)));
  const gauges = await liveGauges(c.env, totals);
  return c.body(renderExposition(totals, gauges), 200, { "content-type": EXPOSITION_CONTENT_TYPE });
});
