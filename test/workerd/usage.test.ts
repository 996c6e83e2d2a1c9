/**
 * @module `GET /admin/usage` through the real Worker, ModelHosts and Metrics object: traffic from
 * two tenants adds up exactly, per tenant, model and UTC day, to what was sent (requests, batch
 * rows, body bytes in, answer bytes out, the inference milliseconds their Server-Timing
 * reported), every answer (200 or 400) sent with its Content-Length; a flush sent again after
 * its answer was lost is counted once; the days are
 * validated (400) and the route takes the admin token only.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { METRICS_NAME, type MetricsBatch } from "../../durable-objects/metrics/contract.ts";
import type { UsageReport } from "../../durable-objects/metrics/usage-contract.ts";
import { flushNow } from "../../router/metrics/flush.ts";
import worker from "../../router/index.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { freshName } from "./refusals.ts";

let mlp: Fixture;
let model: string;
const today = () => new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  mlp = await loadFixture("mlp-tiny");
  model = freshName("usage-mlp");
  const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=64");
  expect(upload.status, await upload.clone().text()).toBe(201);
});

interface Sent {
  requests: number;
  rows: number;
  inferenceMs: number;
  bytesIn: number;
  bytesOut: number;
}

/** One inference of `rows` rows; what it adds to the tenant's usage, read from what was sent and answered. */
async function send(key: string, rows: number, sent: Sent, expectStatus = 200, shapeOverride?: number[]): Promise<void> {
  const input = mlp.inputs[0]!;
  const data = Array.from({ length: rows }, () => Array.from(input.data as ArrayLike<number>).slice(0, 16)).flat();
  const body = JSON.stringify({ inputs: [{ ...input, shape: shapeOverride ?? [rows, 16], data }] });
  const response = await inferJson(model, key, JSON.parse(body));
  const answer = await response.arrayBuffer();
  expect(response.status, new TextDecoder().decode(answer)).toBe(expectStatus);
  // Made whole, sent sized (not chunked through a counting stream): the usage below still counts its bytes exactly.
  expect(response.headers.get("content-length"), "the answer's Content-Length").toBe(String(answer.byteLength));
  sent.requests += 1;
  sent.rows += expectStatus === 200 ? rows : 0;
  sent.bytesIn += new TextEncoder().encode(body).byteLength;
  sent.bytesOut += answer.byteLength;
  const infer = /(?:^|,)\s*infer;dur=([\d.]+)/.exec(response.headers.get("server-timing") ?? "");
  sent.inferenceMs += infer ? Number(infer[1]) : 0;
}

async function usage(query: string): Promise<Response> {
  return call(`/admin/usage${query}`, { key: ADMIN });
}

function emptySent(): Sent {
  return { requests: 0, rows: 0, inferenceMs: 0, bytesIn: 0, bytesOut: 0 };
}

describe("GET /admin/usage", () => {
  it("adds up exactly to the traffic of two tenants, per tenant, model and day", async () => {
    const acme = freshName("usage-acme");
    const globex = freshName("usage-globex");
    const acmeKey = await createTenant(acme, "premium");
    const globexKey = await createTenant(globex, "standard");
    const acmeSent = emptySent();
    const globexSent = emptySent();
    await send(acmeKey, 1, acmeSent);
    await send(acmeKey, 1, acmeSent);
    await send(acmeKey, 3, acmeSent);
    await send(globexKey, 2, globexSent);
    // A request refused for its shape counts as a request with its bytes, and no rows.
    await send(globexKey, 1, globexSent, 400, [1, 15]);

    for (const [tenant, sent] of [
      [acme, acmeSent],
      [globex, globexSent],
    ] as const) {
      const response = await usage(`?tenant=${tenant}&from=${today()}&to=${today()}`);
      const report = (await response.json()) as UsageReport & { from: string; to: string; tenant: string };
      expect(response.status, JSON.stringify(report)).toBe(200);
      expect(report).toMatchObject({ from: today(), to: today(), tenant, truncated: false });
      expect(report.rows).toHaveLength(1);
      const { inferenceMs, ...exact } = report.rows[0]!;
      expect(exact).toEqual({ day: today(), tenant, model, requests: sent.requests, rows: sent.rows, bytesIn: sent.bytesIn, bytesOut: sent.bytesOut });
      expect(inferenceMs).toBeCloseTo(sent.inferenceMs, 1);
      expect(report.totals).toMatchObject({ requests: sent.requests, rows: sent.rows, bytesIn: sent.bytesIn, bytesOut: sent.bytesOut });
    }
    expect(acmeSent.rows).toBe(5);

    // Without a tenant: both, ordered by day, tenant, model, and the totals of every tenant of the day.
    const all = (await (await usage(`?from=${today()}`)).json()) as UsageReport;
    const ours = all.rows.filter((row) => row.model === model).map((row) => row.tenant);
    expect(ours).toEqual([acme, globex].sort());
    expect(all.totals.requests).toBeGreaterThanOrEqual(acmeSent.requests + globexSent.requests);
  });

  it("counts a whole answer's bytes from its Content-Length when it is made, not through a stream the client must drain", async () => {
    const tenant = freshName("usage-sized");
    const key = await createTenant(tenant, "premium");
    // The Worker's own answer object, as the runtime gets it (no service binding between to drain it).
    const request = new Request(`http://hotpath.test/v2/models/${model}/infer`, {
      method: "POST",
      body: JSON.stringify({ inputs: mlp.inputs }),
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    });
    const response = await worker.fetch(request, env, createExecutionContext());
    expect(response.status).toBe(200);
    const length = Number(response.headers.get("content-length"));
    expect(length).toBeGreaterThan(0);
    // Never read: a counting stream would see no byte go out; the answer's length is known already.
    await response.body?.cancel();
    const report = (await (await usage(`?tenant=${tenant}`)).json()) as UsageReport;
    expect(report.rows.map(({ requests, bytesOut }) => ({ requests, bytesOut }))).toEqual([{ requests: 1, bytesOut: length }]);
  });

  it("counts a flush once when it is sent again after its answer was lost", async () => {
    const tenant = freshName("usage-retried");
    const key = await createTenant(tenant, "premium");
    const sent = emptySent();
    await send(key, 4, sent);
    const store = env.METRICS.getByName(METRICS_NAME);
    // The batch carrying this tenant's usage lands, then its answer is lost: it is kept and sent again with its id.
    let lost = false;
    await expect(
      flushNow(async (batch: MetricsBatch) => {
        const applied = await store.apply(batch);
        if (!batch.usage?.some((row) => row.tenant === tenant)) return applied;
        lost = true;
        throw new Error("the answer was lost");
      }),
    ).rejects.toThrow(/lost/);
    expect(lost).toBe(true);
    // GET /admin/usage flushes first: the kept batch goes again, and the object applies its id once.
    const report = (await (await usage(`?tenant=${tenant}`)).json()) as UsageReport;
    expect(report.rows.map(({ requests, rows, bytesIn }) => ({ requests, rows, bytesIn }))).toEqual([{ requests: 1, rows: 4, bytesIn: sent.bytesIn }]);
  });

  it("refuses malformed days, ranges and tenants with 400, and callers without the admin token", async () => {
    const bad = [
      ["?from=2026-13-01", /from must be a date YYYY-MM-DD/],
      ["?from=2026-02-30", /from must be a date YYYY-MM-DD, got '2026-02-30'/],
      ["?to=20260101", /to must be a date YYYY-MM-DD/],
      ["?from=yesterday", /from must be a date/],
      ["?from=2026-03-02&to=2026-03-01", /from \(2026-03-02\) is after to \(2026-03-01\)/],
      ["?from=2020-01-01&to=2026-01-01", /at most 366 days/],
      ["?tenant=../etc", /tenant '..\/etc' must match/],
      ["?tennant=acme", /unknown parameter 'tennant'/],
    ] as const;
    for (const [query, message] of bad) {
      const response = await usage(query);
      expect(response.status, query).toBe(400);
      expect(((await response.json()) as { error: string }).error, query).toMatch(message);
    }
    const leap = await usage("?from=2024-02-29&to=2024-03-01");
    expect(leap.status).toBe(200);
    expect(await leap.json()).toMatchObject({ rows: [], totals: { requests: 0 } });
    expect((await call("/admin/usage")).status).toBe(401);
    expect((await call("/admin/usage", { key: await createTenant(freshName("usage-tenant"), "premium") })).status).toBe(403);
  });
});
