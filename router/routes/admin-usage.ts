/**
 * @module `GET /admin/usage?tenant=&from=&to=` (admin token): per-tenant usage by UTC day, tenant
 * and model, with totals, from the Metrics object (usage-table.ts). This isolate's own counts are
 * flushed first, so the answer covers everything it served; another isolate's last second may
 * not be in yet. Days are YYYY-MM-DD (real calendar days, inclusive): `to` defaults to today,
 * `from` to 30 days before `to`, and a range is at most 366 days.
 */
import { Hono } from "hono";
import { METRICS_NAME } from "../../durable-objects/metrics/contract.ts";
import { badRequest } from "../../protocol/errors.ts";
import { NAME_PATTERN } from "../../protocol/model-record.ts";
import type { AppEnv } from "../app-env.ts";
import { storeRead } from "../kv-read.ts";
import { adminAuth } from "../middleware/admin-auth.ts";
import { applyToStore, flushNow } from "../metrics/flush.ts";
import { utcDay } from "../metrics/usage.ts";

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;
const MAX_DAYS = 366;
const KNOWN_PARAMETERS = new Set(["tenant", "from", "to"]);

export const adminUsageRoutes = new Hono<AppEnv>();
adminUsageRoutes.use("/admin/usage", adminAuth);

adminUsageRoutes.get("/admin/usage", async (c) => {
  const params = new URL(c.req.url).searchParams;
  for (const name of params.keys()) if (!KNOWN_PARAMETERS.has(name)) throw badRequest(`unknown parameter '${name.slice(0, 64)}': use tenant, from, to`);
  const tenant = params.get("tenant") ?? undefined;
  if (tenant !== undefined && !NAME_PATTERN.test(tenant)) throw badRequest(`tenant '${tenant.slice(0, 64)}' must match ${NAME_PATTERN.source}`);
  const to = parseDay("to", params.get("to")) ?? Date.parse(`${utcDay(Date.now())}T00:00:00Z`);
  const from = parseDay("from", params.get("from")) ?? to - DEFAULT_DAYS * DAY_MS;
  if (from > to) throw badRequest(`from (${utcDay(from)}) is after to (${utcDay(to)})`);
  if ((to - from) / DAY_MS + 1 > MAX_DAYS) throw badRequest(`a range is at most ${MAX_DAYS} days; ask for several`);

  // A failed flush keeps its batch for the next one; what the store holds is still worth answering with.
  await flushNow(applyToStore(c.env)).catch((error: unknown) => console.error("flushing usage before GET /admin/usage failed", error));
  const query = { from: utcDay(from), to: utcDay(to), ...(tenant === undefined ? {} : { tenant }) };
  const report = await storeRead("the metrics store", () => c.env.METRICS.getByName(METRICS_NAME).usage(query));
  return c.json({ ...query, ...report });
});

/** A YYYY-MM-DD that names a real day, as its UTC midnight; undefined when absent; 400 otherwise. */
function parseDay(name: string, raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const at = /^\d{4}-\d{2}-\d{2}$/.test(raw) ? Date.parse(`${raw}T00:00:00Z`) : NaN;
  // Date.parse rolls 2026-02-30 over to March: a day that does not round-trip does not exist.
  if (!Number.isFinite(at) || utcDay(at) !== raw) throw badRequest(`${name} must be a date YYYY-MM-DD, got '${raw.slice(0, 32)}'`);
  return at;
}
