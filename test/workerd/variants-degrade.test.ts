/**
 * @module Degradation to a variant through the real Worker, ModelHost, registry, KV and R2: an
 * `origin` model with an edge variant serves standard and free requests (and premium ones that
 * ask `auto`) on the variant when no origin is configured or its origin is down, marked with
 * x-hotpath-variant and Server-Timing and counted in the metrics; premium without `auto`, and
 * any request that names `default`, still gets 503. workerd cannot listen on a port, so the origin is answered in this isolate's `fetch`
 * (the router calls origins with the global fetch); its inferences run on an edge copy of the same
 * bytes through the Worker, so its outputs are onnxruntime's, not made up.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { INFERENCE_HEADER_LENGTH_HEADER } from "../../protocol/headers.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import worker from "../../router/index.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { expectOutputsClose, loadFixture, type Fixture } from "./fixtures.ts";
import { catalogWriteSlotFree } from "./lifecycle.ts";
import { parsePrometheusText, sampleSum, type Family } from "./prometheus-text.ts";
import { expectRetryAfter, freshName } from "./refusals.ts";

const TINY = "models/mlp-tiny/1/model.onnx";
const UP_URL = "https://variants-origin.test";
const DOWN_URL = "https://variants-origin-down.test";
const withOrigin: Env = { ...env, ORIGINS: JSON.stringify([{ id: "variants-origin", url: UP_URL }]) };
const withOriginDown: Env = { ...env, ORIGINS: JSON.stringify([{ id: "variants-origin-down", url: DOWN_URL }]) };

let keys: Record<"premium" | "standard" | "free", string>;
let tiny: Fixture;
/** An edge copy of the origin model's bytes: what the fake origin runs its inferences on. */
let twin: string;
/** An `origin` model (mlp-tiny's bytes) with an edge variant `int8` (the same bytes: error 0). */
let heavy: string;

beforeAll(async () => {
  keys = {
    premium: await createTenant(freshName("degrade-premium"), "premium"),
    standard: await createTenant(freshName("degrade-standard"), "standard"),
    free: await createTenant(freshName("degrade-free"), "free"),
  };
  tiny = await loadFixture("mlp-tiny");
  twin = freshName("degrade-twin");
  expect((await uploadModel(twin, "1", await fixtureBytes(TINY), "?max_batch=16")).status).toBe(201);
});

// For the whole file: the model and its variant are added (in a beforeAll) through the origin too.
beforeAll(() => {
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (request.url.startsWith(`${DOWN_URL}/`)) throw new TypeError("Network connection lost.");
    if (!request.url.startsWith(`${UP_URL}/`)) return realFetch(input, init);
    return answerAsOrigin(request);
  });
});

afterAll(() => vi.restoreAllMocks());

/** The origin: ready; loads any version (mlp-tiny's signature); infers on the edge twin. */
async function answerAsOrigin(request: Request): Promise<Response> {
  if (request.headers.get("authorization") !== `Bearer ${env.ORIGIN_TOKEN}`) return Response.json({ error: "bad token" }, { status: 403 });
  const path = new URL(request.url).pathname;
  if (path === "/v2/health/ready") return Response.json({ ready: true });
  if (/^\/v2\/repository\/models\/[^/]+\/load$/.test(path)) return Response.json({ loaded: true });
  if (/^\/v2\/models\/[^/]+\/versions\/1$/.test(path)) {
    return Response.json({ inputs: [{ name: "input", datatype: "FP32", shape: [-1, 16] }], outputs: [{ name: "output", datatype: "FP32", shape: [-1, 4] }] });
  }
  if (!/^\/v2\/models\/[^/]+\/versions\/1\/infer$/.test(path)) return Response.json({ error: `no route ${path}` }, { status: 404 });
  const headerLength = request.headers.get(INFERENCE_HEADER_LENGTH_HEADER);
  const parsed = parseInferRequest(new Uint8Array(await request.arrayBuffer()), headerLength === null ? undefined : Number(headerLength), {
    maxTensorElements: 1 << 20,
    maxInputs: 8,
  });
  const input = parsed.inputs[0]!;
  const onTwin = await inferJson(twin, keys.premium, { inputs: [{ ...input, data: Array.from(input.data as Float32Array) }] });
  return new Response(onTwin.body, { status: onTwin.status, headers: { "content-type": "application/json" } });
}

function through(bindings: Env, path: string, init: RequestInit): Promise<Response> {
  return Promise.resolve(worker.fetch(new Request(`http://hotpath.test${path}`, init), bindings, createExecutionContext()));
}

async function putModel(bindings: Env, path: string, query: string): Promise<void> {
  const bytes = await fixtureBytes(TINY);
  // A streamed body, as a request from the network has (the upload tees it into R2 and a DigestStream, which workerd
  // cannot do from the in-memory body of a Request made in this isolate).
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  const response = await through(bindings, `${path}${query}`, {
    method: "PUT",
    body: readable,
    headers: { authorization: `Bearer ${ADMIN}`, "content-length": String(bytes.byteLength) },
  });
  expect(response.status, await response.text()).toBe(201);
}

function infer(bindings: Env, key: string, parameters: Record<string, unknown> = {}): Promise<Response> {
  return through(bindings, `/v2/models/${heavy}/infer`, {
    method: "POST",
    body: JSON.stringify({ inputs: tiny.inputs, parameters }),
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
  });
}

/** Served on the edge variant, marked as degraded for `reason`, with the variant's (here: the default's) outputs. */
async function expectDegraded(response: Response, reason: RegExp): Promise<void> {
  const body = (await response.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
  expect(response.status, JSON.stringify(body)).toBe(200);
  expect(response.headers.get("x-hotpath-variant")).toBe("int8");
  expect(response.headers.get("x-served-by")).toMatch(/^edge:/);
  expect(response.headers.get("server-timing")).toMatch(/variant;desc="int8"/);
  expect(response.headers.get("server-timing")).toMatch(new RegExp(`degraded;desc="${reason.source}"`));
  expectOutputsClose(body.outputs, tiny.outputs);
}

async function scrape(): Promise<Map<string, Family>> {
  const response = await call("/metrics", { key: ADMIN });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return parsePrometheusText(text);
}

/** Degraded requests of every model and reason so far, as the dashboard's summary has them. */
async function degradedInSummary(): Promise<number> {
  const response = await call("/admin/metrics/summary", { key: ADMIN });
  const body = (await response.json()) as { degraded: Record<string, number> };
  return Object.values(body.degraded).reduce((sum, n) => sum + n, 0);
}

describe("an origin model with an edge variant", () => {
  beforeAll(async () => {
    heavy = freshName("degrade-heavy");
    // The pool is up while the model and its variant are added: both prove themselves on it.
    await putModel(withOrigin, `/admin/models/${heavy}/versions/1`, "?placement=origin&max_batch=16");
    await catalogWriteSlotFree(heavy);
    await putModel(withOrigin, `/admin/models/${heavy}/versions/1/variants/int8`, "?max_error=0&probes=4");
  });

  it("runs on the origin while the pool is up, unmarked", async () => {
    const response = await infer(withOrigin, keys.standard);
    expect(response.status, await response.clone().text()).toBe(200);
    expect(response.headers.get("x-served-by")).toBe("origin:variants-origin");
    expect(response.headers.get("x-hotpath-variant")).toBeNull();
  });

  it("with no origin configured, serves standard, free and premium-auto requests on the variant; premium alone gets 503; the metrics count it", async () => {
    const before = await scrape();
    const summaryBefore = await degradedInSummary();
    await expectDegraded(await infer(env, keys.standard), /unavailable/);
    await expectDegraded(await infer(env, keys.free), /unavailable/);
    await expectDegraded(await infer(env, keys.premium, { variant: "auto" }), /unavailable/);
    const premium = await infer(env, keys.premium);
    expect(premium.status, await premium.clone().text()).toBe(503);
    expectRetryAfter(premium);
    expect(premium.headers.get("x-hotpath-variant")).toBeNull();

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sampleSum(after, name, labels) - sampleSum(before, name, labels);
    expect(delta("hotpath_degraded_total", { model: heavy, version: "1", variant: "int8", reason: "unavailable" })).toBe(3);
    expect(delta("hotpath_requests_total", { model: heavy, variant: "int8", status: "200", placement: "edge" })).toBe(3);
    expect(delta("hotpath_requests_total", { model: heavy, tier: "premium", status: "503" })).toBe(1);
    // The dashboard's summary carries them too (its refusals chart draws the rate); it sums every
    // model, and other files' degraded requests may land meanwhile, so at least these three.
    expect((await degradedInSummary()) - summaryBefore).toBeGreaterThanOrEqual(3);
  });

  it("never degrades a request that names `default`: standard and free get the default's 503 with Retry-After", async () => {
    for (const key of [keys.standard, keys.free]) {
      const pinned = await infer(env, key, { variant: "default" });
      expect(pinned.status, await pinned.clone().text()).toBe(503);
      expectRetryAfter(pinned);
      expect(pinned.headers.get("x-hotpath-variant")).toBeNull();
    }
  });

  it("with its origin down, serves standard requests on the variant; premium gets 503", async () => {
    await expectDegraded(await infer(withOriginDown, keys.standard), /unavailable|refused/);
    const premium = await infer(withOriginDown, keys.premium);
    expect(premium.status, await premium.clone().text()).toBe(503);
    expect(premium.headers.get("x-hotpath-variant")).toBeNull();
  });
});
