/**
 * @module Traces and request logs through the real Worker and ModelHost: a client's valid
 * `traceparent` keeps its trace id in the answer (under the router's own span id), a malformed
 * one is replaced by a fresh valid trace, and the request's JSON log line (LOG_REQUESTS is "1",
 * wrangler.toml's default) carries that trace id, the request's labels and timings, an error's
 * message, and never the key or the payload.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { call, createTenant, fixtureBytes, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { freshName } from "./refusals.ts";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_PARENT = `00-${CLIENT_TRACE}-00f067aa0ba902b7-01`;

let mlp: Fixture;
let model: string;
let key: string;

beforeAll(async () => {
  mlp = await loadFixture("mlp-tiny");
  model = freshName("traces-mlp");
  const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=64");
  expect(upload.status, await upload.clone().text()).toBe(201);
  key = await createTenant(freshName("traces-tenant"), "premium");
});

afterEach(() => vi.restoreAllMocks());

function infer(traceparent: string | undefined, inputs: unknown = mlp.inputs): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (traceparent !== undefined) headers.traceparent = traceparent;
  return call(`/v2/models/${model}/infer`, { method: "POST", key, headers, body: JSON.stringify({ inputs }) });
}

/** The JSON request lines the Worker wrote while `work` ran. */
async function loggedDuring(work: () => Promise<Response>): Promise<{ response: Response; lines: Record<string, unknown>[] }> {
  const log = vi.spyOn(console, "log");
  const response = await work();
  await response.arrayBuffer();
  const lines = log.mock.calls.flatMap(([first]) => {
    if (typeof first !== "string" || !first.startsWith("{")) return [];
    const line = JSON.parse(first) as Record<string, unknown>;
    return line.msg === "request" ? [line] : [];
  });
  return { response, lines };
}

describe("traceparent", () => {
  it("keeps a client's trace id and answers with the router's own span id", async () => {
    const response = await infer(CLIENT_PARENT);
    expect(response.status, await response.clone().text()).toBe(200);
    const [, traceId, spanId, flags] = TRACEPARENT.exec(response.headers.get("traceparent") ?? "") ?? [];
    expect(traceId).toBe(CLIENT_TRACE);
    expect(spanId).not.toBe("00f067aa0ba902b7");
    expect(flags).toBe("01");
  });

  it("replaces a malformed traceparent (or none) with a fresh valid one", async () => {
    const malformed = [
      `00-${"0".repeat(32)}-00f067aa0ba902b7-01`,
      `00-${CLIENT_TRACE.toUpperCase()}-00f067aa0ba902b7-01`,
      "garbage",
      `ff-${CLIENT_TRACE}-00f067aa0ba902b7-01`,
    ];
    const seen = new Set<string>();
    for (const raw of [...malformed, undefined]) {
      const response = await infer(raw);
      expect(response.status, String(raw)).toBe(200);
      const [, traceId] = TRACEPARENT.exec(response.headers.get("traceparent") ?? "") ?? [];
      expect(traceId, String(raw)).toMatch(/^[0-9a-f]{32}$/);
      expect(traceId).not.toMatch(/^0+$/);
      expect(traceId).not.toBe(CLIENT_TRACE);
      seen.add(traceId!);
    }
    expect(seen.size).toBe(malformed.length + 1);
  });

  it("comes back on error answers too", async () => {
    const response = await call(`/v2/models/${model}/infer`, { method: "POST", headers: { traceparent: CLIENT_PARENT }, body: "{}" });
    expect(response.status).toBe(401);
    expect(response.headers.get("traceparent")).toMatch(new RegExp(`^00-${CLIENT_TRACE}-`));
  });
});

describe("request log", () => {
  it("writes one JSON line per request with its trace id, labels and timings, and no key or payload", async () => {
    const { response, lines } = await loggedDuring(() => infer(CLIENT_PARENT));
    expect(response.status).toBe(200);
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toMatchObject({ trace_id: CLIENT_TRACE, model, version: "1", function: "", tier: "premium", status: 200, placement: "edge" });
    expect(line.tenant).toMatch(/^traces-tenant/);
    expect(line.served_by).toMatch(/^edge:/);
    expect(Object.keys(line.timings_ms as object)).toEqual(expect.arrayContaining(["host", "queue", "infer"]));
    expect(line.error).toBeUndefined();
    const text = JSON.stringify(line);
    expect(text).not.toContain(key);
    expect(text).not.toContain(String(mlp.inputs[0]!.data[0]));
  });

  it("names the error of a 4xx", async () => {
    const wrongShape = [{ ...mlp.inputs[0]!, shape: [1, 15], data: mlp.inputs[0]!.data.slice(0, 15) }];
    const { response, lines } = await loggedDuring(() => infer(undefined, wrongShape));
    expect(response.status).toBe(400);
    const traceId = TRACEPARENT.exec(response.headers.get("traceparent") ?? "")?.[1];
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ trace_id: traceId, status: 400, model });
    expect(lines[0]!.error).toBe(((await infer(undefined, wrongShape).then((r) => r.json())) as { error: string }).error);
  });
});
