/**
 * @module The traceparent each hop after the router receives, through the real Worker: a
 * function's job as the real ModelHost takes it over RPC (its `job` method wrapped to see the call
 * it receives, the real code then run), and the header that reaches an origin. Each carries the
 * client's trace id under a span id of the router's call: neither the client's nor the one the
 * router answers with.
 *
 * The origin: workerd cannot listen on a port, so, as fault-spill.test.ts does, the origin is an
 * OIP server answered in this isolate's `fetch` (the router calls origins with the global fetch);
 * the request reaches it after a host fault on an `auto` model sends it to the pool.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { HostJobCall } from "../../durable-objects/model-host/contract.ts";
import { ModelHost } from "../../durable-objects/model-host/model-host.ts";
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import worker from "../../router/index.ts";
import { call, createTenant, ensureDemoModel, fixtureBytes, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { answer500 } from "./host-fault-injection.ts";
import { freshName } from "./refusals.ts";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";
const CLIENT_PARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
const ORIGIN_URL = "https://origin.test";

let key: string;

beforeAll(async () => {
  key = await createTenant(freshName("hops-tenant"), "premium");
});

afterEach(() => vi.restoreAllMocks());

/** The trace id and span id of a traceparent, failing the test when it is not one. */
function parts(traceparent: string | null | undefined): { traceId: string; spanId: string } {
  const match = TRACEPARENT.exec(traceparent ?? "");
  expect(match, `a traceparent: ${traceparent}`).not.toBeNull();
  return { traceId: match![1]!, spanId: match![2]! };
}

/** The next hop got the client's trace under a span id of its own: not the client's, not the router's answer's. */
function expectChildOfRouter(received: string | null | undefined, answered: string | null): void {
  const hop = parts(received);
  const router = parts(answered);
  expect(router.traceId).toBe(CLIENT_TRACE);
  expect(hop.traceId).toBe(CLIENT_TRACE);
  expect(hop.spanId).not.toBe(CLIENT_SPAN);
  expect(hop.spanId).not.toBe(router.spanId);
}

describe("a function's job", () => {
  it("reaches the ModelHost with the client's trace id and a new parent span id", async () => {
    await ensureDemoModel("silero-vad");
    const received: (string | undefined)[] = [];
    const real = ModelHost.prototype.job;
    vi.spyOn(ModelHost.prototype, "job").mockImplementation(function (this: ModelHost, job: HostJobCall) {
      received.push(job.traceparent);
      return real.call(this, job);
    });
    const response = await call("/v1/functions/vad", {
      method: "POST",
      key,
      body: await fixtureBytes("fixtures/speech.wav"),
      headers: { "content-type": "audio/wav", traceparent: CLIENT_PARENT, [TIMEOUT_HEADER]: "10000" },
    });
    expect(response.status, await response.text()).toBe(200);
    expect(received).toHaveLength(1);
    expectChildOfRouter(received[0], response.headers.get("traceparent"));
  });
});

describe("a request sent to an origin", () => {
  let mlp: Fixture;
  /** The traceparent header of each inference call that reached the origin. */
  let originTraceparents: (string | null)[];

  beforeAll(async () => {
    mlp = await loadFixture("mlp-tiny");
  });

  /** The origin: ready to its health checks; an inference answered with the fixture's outputs, its traceparent kept. */
  function serveAsOrigin(): void {
    originTraceparents = [];
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      if (!request.url.startsWith(`${ORIGIN_URL}/`)) return realFetch(input, init);
      const path = new URL(request.url).pathname;
      if (path === "/v2/health/ready") return Response.json({ ready: true });
      if (!path.endsWith("/infer")) return Response.json({ error: `no route ${path}` }, { status: 404 });
      originTraceparents.push(request.headers.get("traceparent"));
      await request.arrayBuffer();
      return Response.json({ model_name: "mlp", model_version: "1", outputs: mlp.outputs });
    });
  }

  function send(model: string, bindings: Env): Promise<Response> {
    const request = new Request(`http://hotpath.test/v2/models/${model}/infer`, {
      method: "POST",
      body: JSON.stringify({ inputs: mlp.inputs }),
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", traceparent: CLIENT_PARENT, [TIMEOUT_HEADER]: "3000" },
    });
    return Promise.resolve(worker.fetch(request, bindings, createExecutionContext()));
  }

  it("carries the client's trace id and a new parent span id in its traceparent header", async () => {
    const model = freshName("hops-auto");
    const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?placement=auto&max_batch=16");
    expect(upload.status, await upload.clone().text()).toBe(201);
    // Served at the edge first (no pool): replica 0 is warm and has a report, so the fault below is what sends it to the pool.
    const warm = await send(model, env);
    expect(warm.status, await warm.text()).toBe(200);

    serveAsOrigin();
    const broken = answer500(model, [0]);
    try {
      const withPool: Env = { ...env, ORIGINS: JSON.stringify([{ id: "trace-origin", url: ORIGIN_URL }]) };
      const response = await send(model, withPool);
      expect(response.status, await response.text()).toBe(200);
      expect(response.headers.get("x-served-by")).toBe("origin:trace-origin");
      expect(originTraceparents).toHaveLength(1);
      expectChildOfRouter(originTraceparents[0], response.headers.get("traceparent"));
    } finally {
      broken.restore();
    }
  });
});
