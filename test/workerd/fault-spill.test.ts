/**
 * @module A host fault under an `auto` model sends the request to the origin pool, through the
 * real Worker and ModelHost: the host's object reset while the request is queued there, or the
 * host answering 500. workerd cannot listen on a port, so the origin is an OIP server answered in
 * this isolate's `fetch` (the router calls origins with the global fetch): it decodes the binary
 * request the edge sends and answers onnxruntime-node's outputs for those inputs, from the fixture.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { INFERENCE_HEADER_LENGTH_HEADER } from "../../protocol/headers.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import worker from "../../router/index.ts";
import { createTenant, fixtureBytes, uploadModel } from "./helpers.ts";
import { expectOutputsClose, loadFixture, type Fixture } from "./fixtures.ts";
import { freshName } from "./refusals.ts";
import { answer500, resetReplica } from "./host-fault-injection.ts";
import { originPool, recordLoad } from "../../router/origin-pool/pool.ts";
import { TIER_PRIORITIES } from "../../config/tiers.ts";

const ORIGIN_URL = "https://origin.test";
/** The Worker's env with one origin in the pool. */
const withPool: Env = { ...env, ORIGINS: JSON.stringify([{ id: "fake-origin", url: ORIGIN_URL }]) };

let premium: string;
let mlp: Fixture;
/** The inputs each inference call to the origin carried. */
let originCalls: number[][];

beforeAll(async () => {
  premium = await createTenant(freshName("spill-premium"), "premium");
  mlp = await loadFixture("mlp-tiny");
});

beforeEach(() => {
  originCalls = [];
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(`${ORIGIN_URL}/`)) return realFetch(input, init);
    return answerAsOrigin(request);
  });
});

afterEach(() => vi.restoreAllMocks());

/** The origin: ready to its health checks; an inference answered with the fixture's outputs. */
async function answerAsOrigin(request: Request): Promise<Response> {
  if (request.headers.get("authorization") !== `Bearer ${env.ORIGIN_TOKEN}`) return Response.json({ error: "bad token" }, { status: 403 });
  const path = new URL(request.url).pathname;
  if (path === "/v2/health/ready") return Response.json({ ready: true });
  if (!/^\/v2\/models\/[^/]+\/versions\/1\/infer$/.test(path)) return Response.json({ error: `no route ${path}` }, { status: 404 });
  const headerLength = request.headers.get(INFERENCE_HEADER_LENGTH_HEADER);
  const parsed = parseInferRequest(new Uint8Array(await request.arrayBuffer()), headerLength === null ? undefined : Number(headerLength), {
    maxTensorElements: 1 << 20,
    maxInputs: 8,
  });
  originCalls.push(Array.from(parsed.inputs[0]!.data as Float32Array));
  return Response.json({ model_name: "mlp", model_version: "1", outputs: mlp.outputs });
}

function send(model: string, bindings: Env, timeoutMs: number): Promise<Response> {
  const request = new Request(`http://hotpath.test/v2/models/${model}/infer`, {
    method: "POST",
    body: JSON.stringify({ inputs: mlp.inputs }),
    headers: { authorization: `Bearer ${premium}`, "content-type": "application/json", "x-hotpath-timeout-ms": String(timeoutMs) },
  });
  return Promise.resolve(worker.fetch(request, bindings, createExecutionContext()));
}

/** An `auto` model, warm on replica 0; `query` adds upload settings. */
async function autoModel(prefix: string, query = ""): Promise<string> {
  const model = freshName(prefix);
  const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), `?placement=auto&max_batch=16${query}`);
  expect(upload.status, await upload.clone().text()).toBe(201);
  // Without the pool: served at the edge, so the session is warm and the replica set has a report.
  const warm = await send(model, env, 3_000);
  expect([warm.status, warm.headers.get("x-served-by")], await warm.clone().text()).toEqual([200, "edge:enam/0"]);
  return model;
}

/**
 * The pool reports `ms` of work ahead (as an origin's answers do), set just before a request: the
 * edge's own report after the warm request carries a few ms of waiting on a busy machine, and an
 * idle pool (the fake origin answers at once) would then take the request up front ("edge
 * backlog") and the fault under test would never be reached.
 */
function poolBusyFor(ms: number): void {
  const waits = Object.fromEntries(TIER_PRIORITIES.map((priority) => [priority, ms]));
  for (const origin of originPool(withPool)) recordLoad(origin, { queued: 1, running: 1, backlogMs: ms, waitAheadMs: waits, gapMs: 0 }, Date.now());
}

/** The answer came from the pool after the edge failed, with the outputs of onnxruntime-node for the inputs sent. */
async function expectSpilled(response: Response): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get("x-served-by")).toBe("origin:fake-origin");
  expect(response.headers.get("server-timing")).toMatch(/spill;desc="edge refused"/);
  expect(originCalls, "one call to the origin, with the request's inputs").toEqual([Array.from(Float32Array.from(mlp.inputs[0]!.data))]);
  expectOutputsClose((JSON.parse(text) as { outputs: Fixture["outputs"] }).outputs, mlp.outputs);
}

describe("a host fault under an auto model spills to the origin pool", () => {
  it("the host's object reset while the request is queued there", async () => {
    // Holds a lone request up to a second to fill a batch, so it is still queued when reset.
    const model = await autoModel("spill-reset", "&max_queue_delay_microseconds=1000000");
    poolBusyFor(1_000);
    const answer = send(model, withPool, 3_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await resetReplica(model, 0);
    await expectSpilled(await answer);
  });

  it("the host answering 500", async () => {
    const model = await autoModel("spill-500");
    const broken = answer500(model, [0]);
    try {
      poolBusyFor(1_000);
      await expectSpilled(await send(model, withPool, 3_000));
      expect(broken.calls).toBe(1);
    } finally {
      broken.restore();
    }
  });
});
