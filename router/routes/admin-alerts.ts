/**
 * @module The alert rules (admin token): `GET /admin/alerts` lists them with their state,
 * `PUT /admin/alerts/{name}` creates or replaces one (rule-input.ts checks the body),
 * `GET` and `DELETE /admin/alerts/{name}`. The Alerts object holds and evaluates them
 * (durable-objects/alerts/).
 */
import { Hono } from "hono";
import { ALERTS_NAME } from "../../durable-objects/alerts/contract.ts";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { NAME_PATTERN } from "../../protocol/model-record.ts";
import type { AppEnv } from "../app-env.ts";
import { ruleFromBody, RULE_EXAMPLE } from "../alerts/rule-input.ts";
import { storeRead } from "../kv-read.ts";
import { adminAuth } from "../middleware/admin-auth.ts";

export const adminAlertRoutes = new Hono<AppEnv>();
adminAlertRoutes.use("/admin/alerts", adminAuth);
adminAlertRoutes.use("/admin/alerts/*", adminAuth);

const alerts = (env: Env) => env.ALERTS.getByName(ALERTS_NAME);

function nameOf(raw: string | undefined): string {
  const name = raw ?? "";
  if (!NAME_PATTERN.test(name)) throw badRequest(`alert name '${name.slice(0, 64)}' must match ${NAME_PATTERN.source}`);
  return name;
}

adminAlertRoutes.get("/admin/alerts", async (c) => c.json({ alerts: await storeRead("the alerts store", () => alerts(c.env).listRules()) }));

adminAlertRoutes.put("/admin/alerts/:name", async (c) => {
  const name = nameOf(c.req.param("name"));
  const body = await c.req.json<unknown>().catch(() => {
    throw badRequest(`the body must be JSON such as ${RULE_EXAMPLE}`);
  });
  const rule = ruleFromBody(body);
  const created = await alerts(c.env).putRule(name, rule);
  return c.json({ name, rule }, created ? 201 : 200);
});

adminAlertRoutes.get("/admin/alerts/:name", async (c) => {
  const name = nameOf(c.req.param("name"));
  const view = await storeRead("the alerts store", () => alerts(c.env).getRule(name));
  if (!view) throw new HttpError(404, `no alert '${name}'`);
  return c.json(view);
});

adminAlertRoutes.delete("/admin/alerts/:name", async (c) => {
  const name = nameOf(c.req.param("name"));
  if (!(await alerts(c.env).deleteRule(name))) throw new HttpError(404, `no alert '${name}'`);
  return c.json({ deleted: name });
});
