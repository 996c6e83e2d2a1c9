/**
 * @module The dashboard through the real Worker: the page and its files with their security
 * headers (CSP with no inline script, nosniff, no-store) and no inline script in the page, and
 * `GET /admin/metrics/summary`: admin only, and its totals move by exactly the traffic sent
 * (requests, 429s, the duration histogram per tier, the replica's queue and sessions).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import type { DashboardSummary } from "../../router/dashboard/summary.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { freshName } from "./refusals.ts";

const FILES = {
  "main.js": "text/javascript; charset=utf-8",
  "charts.js": "text/javascript; charset=utf-8",
  "series.js": "text/javascript; charset=utf-8",
  "uplot.iife.min.js": "text/javascript; charset=utf-8",
  "dashboard.css": "text/css; charset=utf-8",
  "uplot.min.css": "text/css; charset=utf-8",
};

function expectSecurityHeaders(response: Response): void {
  const csp = response.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("form-action 'none'");
  expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  expect(response.headers.get("cache-control")).toBe("no-store");
}

async function summary(): Promise<DashboardSummary> {
  const response = await call("/admin/metrics/summary", { key: ADMIN });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expectSecurityHeaders(response);
  return JSON.parse(text) as DashboardSummary;
}

const total = (counts: number[]) => counts.reduce((a, b) => a + b, 0);

describe("the dashboard page", () => {
  it("is served with a CSP that allows only its own scripts, and has no inline script", async () => {
    for (const path of ["/dashboard", "/dashboard/"]) {
      const response = await call(path);
      const html = await response.text();
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expectSecurityHeaders(response);
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.map((s) => /src="([^"]+)"/.exec(s[1]!)?.[1])).toEqual(["/dashboard/uplot.iife.min.js", "/dashboard/main.js"]);
      for (const script of scripts) expect(script[2]!.trim()).toBe("");
      expect(html).not.toMatch(/\son[a-z]+=/i); // no inline event handlers
    }
  });

  it("serves each of its files with its type and the same headers, and 404 for any other", async () => {
    for (const [file, type] of Object.entries(FILES)) {
      const response = await call(`/dashboard/${file}`);
      const body = await response.text();
      expect(response.status, file).toBe(200);
      expect(response.headers.get("content-type"), file).toBe(type);
      expect(body.length, file).toBeGreaterThan(100);
      expectSecurityHeaders(response);
    }
    const uplot = await (await call("/dashboard/uplot.iife.min.js")).text();
    expect(uplot.startsWith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */\nvar uPlot=function")).toBe(true);
    const missing = await call("/dashboard/secrets.js");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toMatch(/no dashboard file/);
    expectSecurityHeaders(missing);
  });
});

describe("GET /admin/metrics/summary", () => {
  let mlp: Fixture;
  let model: string;

  beforeAll(async () => {
    mlp = await loadFixture("mlp-tiny");
    model = freshName("dashboard-mlp");
    const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=64");
    expect(upload.status, await upload.clone().text()).toBe(201);
  });

  it("takes the admin token only: 401 without it or with a wrong one, 403 for a tenant key, each with the page's headers", async () => {
    for (const key of [undefined, "not-the-token"]) {
      const refused = await call("/admin/metrics/summary", key === undefined ? {} : { key });
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as { error: string }).error).toMatch(/admin token/);
      expectSecurityHeaders(refused);
    }
    const tenant = await call("/admin/metrics/summary", { key: await createTenant(freshName("dashboard-tenant"), "premium") });
    expect(tenant.status).toBe(403);
    expectSecurityHeaders(tenant);
  });

  it("moves by exactly the traffic sent, per tier, and shows the replica that served it", async () => {
    const premium = await createTenant(freshName("dashboard-premium"), "premium");
    const free = await createTenant(freshName("dashboard-free"), "free");
    const before = await summary();
    for (let k = 0; k < 5; k++) expect((await inferJson(model, premium, { inputs: mlp.inputs })).status).toBe(200);
    // One wave past the free tier's in-flight cap and burst: some are refused (429), fast and not served.
    const answers = await Promise.all(Array.from({ length: TIERS.free.burst + 5 }, () => inferJson(model, free, { inputs: mlp.inputs })));
    const statuses = await Promise.all(answers.map(async (a) => (await a.arrayBuffer(), a.status)));
    const freeRefused = statuses.filter((s) => s === 429).length;
    expect(freeRefused).toBeGreaterThan(0);
    const after = await summary();

    expect(after.at).toBeGreaterThan(before.at);
    expect(after.durationBounds).toEqual(before.durationBounds);
    expect(Object.keys(after.tiers).sort()).toEqual(Object.keys(TIERS).sort());
    const moved = (tier: string) => ({
      requests: after.tiers[tier]!.requests - before.tiers[tier]!.requests,
      refused: after.tiers[tier]!.refused - before.tiers[tier]!.refused,
      timed: total(after.tiers[tier]!.durationCounts) - total(before.tiers[tier]!.durationCounts),
    });
    expect(moved("premium")).toEqual({ requests: 5, refused: 0, timed: 5 });
    expect(moved("free")).toEqual({ requests: statuses.length, refused: freeRefused, timed: statuses.length });
    expect(after.tiers.premium!.deadlineSeconds).toBe(TIERS.premium.defaultDeadlineMs / 1000);
    expect(after.tiers.premium!.durationCounts).toHaveLength(after.durationBounds.length + 1);
    expect(after.requests - before.requests).toBe(5 + statuses.length);
    expect(total(Object.values(after.refusals)) - total(Object.values(before.refusals))).toBe(freeRefused);
    const replica = Object.keys(after.sessionsLoaded).find((key) => key.startsWith(`${model} `));
    expect(replica).toMatch(/ [a-z]+\/0$/);
    expect(after.sessionsLoaded[replica!]).toBe(1);
    expect(after.queueLength[replica!]).toBe(0);
    expect(after.originUp).toEqual({});
  });
});
