/**
 * @module `GET /metrics` through the real Worker, ModelHosts and Metrics object: admin only; the
 * answer parses as strict Prometheus text (prometheus-text.ts); known traffic (successes, a 400,
 * a 403, 429s, a 503 the host refuses, a function call) moves each counter by exactly what was
 * sent, histogram counts by the requests, and the live gauges are there. A flush retried after
 * its answer was lost is counted once.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import { METRICS_NAME, type MetricsBatch } from "../../durable-objects/metrics/contract.ts";
import { increment } from "../../router/metrics/aggregate.ts";
import { flushNow, unsentBatchCount } from "../../router/metrics/flush.ts";
import { ADMIN, call, createTenant, ensureDemoModel, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { parsePrometheusText, sampleSum, type Family } from "./prometheus-text.ts";
import { freshName } from "./refusals.ts";
import { slowModel } from "./slow-model.ts";

let mlp: Fixture;
let model: string;

beforeAll(async () => {
  mlp = await loadFixture("mlp-tiny");
  model = freshName("metrics-mlp");
  const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=64");
  expect(upload.status, await upload.clone().text()).toBe(201);
  await ensureDemoModel("silero-vad");
});

async function scrape(): Promise<Map<string, Family>> {
  const response = await call("/metrics", { key: ADMIN });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parsePrometheusText(text);
}

/** How much each looked-up sample moved between two scrapes. */
function deltas(before: Map<string, Family>, after: Map<string, Family>) {
  return (name: string, labels: Record<string, string>) => sampleSum(after, name, labels) - sampleSum(before, name, labels);
}

describe("GET /metrics", () => {
  it("takes the admin token only: 401 without it, 403 for a tenant key", async () => {
    const none = await call("/metrics");
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: string }).error).toMatch(/admin token/);
    const tenant = await call("/metrics", { key: await createTenant(freshName("metrics-tenant"), "premium") });
    expect(tenant.status).toBe(403);
    expect(((await tenant.json()) as { error: string }).error).toMatch(/tenant keys/);
  });

  it("moves each counter by exactly the traffic sent, histogram counts by the requests, and shows the live gauges", async () => {
    const premium = await createTenant(freshName("metrics-premium"), "premium");
    const free = await createTenant(freshName("metrics-free"), "free");
    const other = await createTenant(freshName("metrics-other"), "standard", ["some-other-model"]);
    const slow = await slowModel("metrics-slow", premium);
    const before = await scrape();

    for (let k = 0; k < 3; k++) expect((await inferJson(model, premium, { inputs: mlp.inputs })).status).toBe(200);
    const wrongShape = [{ ...mlp.inputs[0]!, shape: [1, 15], data: mlp.inputs[0]!.data.slice(0, 15) }];
    expect((await inferJson(model, premium, { inputs: wrongShape })).status).toBe(400);
    expect((await inferJson(model, other, { inputs: mlp.inputs })).status).toBe(403);
    // Waves no wider than the free tier's in-flight cap, until its burst runs out: only the rate refuses.
    let freeServed = 0;
    let freeRefused = 0;
    for (let wave = 0; wave * TIERS.free.maxInFlight < 4 * TIERS.free.burst && freeRefused === 0; wave++) {
      const answers = await Promise.all(Array.from({ length: TIERS.free.maxInFlight }, () => inferJson(model, free, { inputs: mlp.inputs })));
      for (const answer of answers) {
        await answer.arrayBuffer();
        if (answer.status === 429) freeRefused++;
        else if (answer.status === 200) freeServed++;
        else throw new Error(`free tier answered ${answer.status}`);
      }
    }
    expect(freeRefused).toBeGreaterThan(0);
    const refused = await slow.infer(premium, Math.max(1, Math.floor(slow.runMs / 2)));
    expect(refused.status, await refused.text()).toBe(503);
    const wav = await fixtureBytes("fixtures/silence.wav");
    const vad = await call("/v1/functions/vad", { method: "POST", key: premium, body: wav, headers: { "content-type": "audio/wav" } });
    expect(vad.status, await vad.text()).toBe(200);

    const after = await scrape();
    const moved = deltas(before, after);
    const requests = "hotpath_requests_total";
    const edge = { function: "", placement: "edge" };
    expect(moved(requests, { ...edge, model, version: "1", tier: "premium", status: "200" })).toBe(3);
    expect(moved(requests, { ...edge, model, version: "1", tier: "premium", status: "400" })).toBe(1);
    expect(moved(requests, { model: "", version: "", tier: "standard", status: "403", placement: "none" })).toBe(1);
    expect(moved(requests, { ...edge, model, tier: "free", status: "200" })).toBe(freeServed);
    expect(moved(requests, { model: "", tier: "free", status: "429" })).toBe(freeRefused);
    expect(moved(requests, { ...edge, model: slow.name, tier: "premium", status: "503" })).toBe(1);
    expect(moved(requests, { function: "vad", model: "silero-vad", tier: "premium", status: "200", placement: "edge" })).toBe(1);
    expect(moved(requests, {})).toBe(3 + 1 + 1 + freeServed + freeRefused + 1 + 1);

    expect(moved("hotpath_refusals_total", { tier: "free", reason: "rate" })).toBe(freeRefused);
    expect(moved("hotpath_refusals_total", { model: slow.name, tier: "premium", reason: "deadline" })).toBe(1);
    expect(moved("hotpath_refusals_total", {})).toBe(freeRefused + 1);

    // Every counted request is timed; queue, run and batch once per model call that ran on a host.
    expect(moved("hotpath_request_duration_seconds_count", { model, tier: "premium", function: "" })).toBe(4);
    expect(moved("hotpath_request_duration_seconds_count", {})).toBe(3 + 1 + 1 + freeServed + freeRefused + 1 + 1);
    expect(moved("hotpath_queue_duration_seconds_count", { model, tier: "premium" })).toBe(3);
    expect(moved("hotpath_inference_duration_seconds_count", { model, tier: "premium" })).toBe(3);
    expect(moved("hotpath_inference_duration_seconds_count", { model, tier: "free" })).toBe(freeServed);
    expect(moved("hotpath_batch_size_count", { model })).toBe(3 + freeServed);
    expect(moved("hotpath_inference_duration_seconds_count", { model: "silero-vad", tier: "premium" })).toBe(1);
    expect(moved("hotpath_inference_duration_seconds_sum", { model, tier: "premium" })).toBeGreaterThanOrEqual(0);

    const host = { model, replica: "0" };
    expect(after.get("hotpath_queue_length")!.samples.filter((s) => s.labels.model === model)).toHaveLength(1);
    expect(sampleSum(after, "hotpath_queue_length", host)).toBe(0);
    expect(sampleSum(after, "hotpath_host_up", host)).toBe(1);
    expect(sampleSum(after, "hotpath_sessions_loaded", host)).toBe(1);
    expect(sampleSum(after, "hotpath_host_memory_bytes", host)).toBeGreaterThan(0);
    for (const tier of Object.keys(TIERS)) expect(after.get("hotpath_streams_open")!.samples.some((s) => s.labels.tier === tier)).toBe(true);
    // No origin pool in these tests: the family is declared, with no origin in it.
    expect(after.get("hotpath_origin_up")).toMatchObject({ type: "gauge", samples: [] });
  });

  it("counts a flush once when it is sent again after its answer was lost", async () => {
    const store = env.METRICS.getByName(METRICS_NAME);
    const series = freshName("retried");
    increment("spills", { model: series, tier: "premium", reason: "backlog" });
    const key = `hotpath_spills_total{model="${series}",tier="premium",reason="backlog"}`;
    // The call with this batch lands, then its answer is lost: the batch stays, to be sent again with its id.
    // (Other batches, of the requests this isolate served, go through as usual.)
    let lostId: string | undefined;
    const landsThenFails = async (batch: MetricsBatch) => {
      const applied = await store.apply(batch);
      if (!(key in batch.counters)) return applied;
      lostId = batch.id;
      throw new Error("the answer was lost");
    };
    await expect(flushNow(landsThenFails)).rejects.toThrow(/lost/);
    expect(unsentBatchCount()).toBeGreaterThanOrEqual(1);
    const retried: { id: string; applied: boolean }[] = [];
    await flushNow(async (batch) => {
      const applied = await store.apply(batch);
      retried.push({ id: batch.id, applied });
      return applied;
    });
    expect(retried).toContainEqual({ id: lostId, applied: false });
    expect(unsentBatchCount()).toBe(0);
    const totals = await store.totals();
    expect(totals.counters[key]).toBe(1);
  });
});
