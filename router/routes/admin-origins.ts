/**
 * @module `GET /admin/origins`: the origin pool as this isolate sees it: each origin's last
 * health check, its breaker, its outstanding requests, round trip and reported load. With
 * `?check=now` it checks every origin first and reports the fresh result; without, it reports
 * what the checks that run beside pool traffic last found (and starts those that are due).
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { checkOriginsNow, checkOriginsWhenDue } from "../origin-pool/health-check.ts";
import { originPool, usable } from "../origin-pool/pool.ts";

export const adminOriginRoutes = new Hono<AppEnv>();
adminOriginRoutes.use("/admin/origins", adminAuth);

adminOriginRoutes.get("/admin/origins", async (c) => {
  if (c.req.query("check") === "now") await checkOriginsNow(c.env);
  else checkOriginsWhenDue(c.env, (p) => c.executionCtx.waitUntil(p));
  const now = Date.now();
  const origins = originPool(c.env).map((o) => ({
    id: o.config.id,
    url: o.config.url,
    usable: usable(o, undefined, now),
    health: { ...o.health, checkedAgoMs: o.health.checkedAt === 0 ? null : now - o.health.checkedAt },
    breaker: o.breaker.state(now),
    outstanding: o.outstanding,
    roundTripMs: Math.round(o.roundTripMs * 10) / 10,
    load: o.load ?? null,
  }));
  return c.json({ origins });
});
