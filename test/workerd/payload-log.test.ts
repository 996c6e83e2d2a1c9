/**
 * @module Sampled payload logging through the real Worker, ModelHost and R2: a version uploaded
 * with `log_payloads=1` has each OIP inference's request and answer written under
 * `payload-logs/<model>/<version>/<day>/<trace id>-<span id>.json` (JSON bodies as JSON, binary ones in
 * base64), without the key; a version uploaded
 * without the setting (rate 0) has nothing written; a rate outside 0..1 is refused at upload.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { ADMIN, call, createTenant, fixtureBytes, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import { freshName } from "./refusals.ts";
import { PAYLOAD_LOG_CAP_BYTES, type PayloadLogEntry } from "../../router/payload-log.ts";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

let mlp: Fixture;
let modelBytes: Uint8Array;
let key: string;

beforeAll(async () => {
  mlp = await loadFixture("mlp-tiny");
  modelBytes = await fixtureBytes("models/mlp-tiny/1/model.onnx");
  key = await createTenant(freshName("payload-tenant"), "premium");
});

async function uploaded(prefix: string, query: string): Promise<string> {
  const model = freshName(prefix);
  const upload = await uploadModel(model, "1", modelBytes, query);
  expect(upload.status, await upload.clone().text()).toBe(201);
  return model;
}

function infer(model: string): Promise<Response> {
  return call(`/v2/models/${model}/infer`, {
    method: "POST",
    key,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ inputs: mlp.inputs }),
  });
}

const logKeys = async (model: string): Promise<string[]> => (await env.MODELS.list({ prefix: `payload-logs/${model}/` })).objects.map((o) => o.key);

/** The one log object of `model`, once written. */
async function loggedEntry(model: string): Promise<PayloadLogEntry> {
  await vi.waitUntil(async () => (await logKeys(model)).length > 0, { timeout: 5_000, interval: 20 });
  const keys = await logKeys(model);
  expect(keys).toHaveLength(1);
  return JSON.parse(await (await env.MODELS.get(keys[0]!))!.text()) as PayloadLogEntry;
}

describe("payload logging", () => {
  it("writes a sampled inference's request, answer and trace id to R2 at rate 1, and nothing at the default rate 0", async () => {
    const logged = await uploaded("payload-on", "?max_batch=64&log_payloads=1");
    const silent = await uploaded("payload-off", "?max_batch=64");
    const record = (await (await call(`/admin/models/${logged}`, { key: ADMIN })).json()) as { versions: { logPayloads: number }[] };
    expect(record.versions[0]!.logPayloads).toBe(1);

    const quiet = await infer(silent);
    expect(quiet.status, await quiet.clone().text()).toBe(200);
    const response = await infer(logged);
    expect(response.status, await response.clone().text()).toBe(200);
    const answer = (await response.json()) as { outputs: { name: string; data: number[] }[] };
    const [, traceId, spanId] = TRACEPARENT.exec(response.headers.get("traceparent") ?? "") ?? [];
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    const day = new Date().toISOString().slice(0, 10);
    const expectedKey = `payload-logs/${logged}/1/${day}/${traceId}-${spanId}.json`;
    await vi.waitUntil(async () => (await logKeys(logged)).length > 0, { timeout: 5_000, interval: 20 });
    expect(await logKeys(logged)).toEqual([expectedKey]);
    const object = await env.MODELS.get(expectedKey);
    const text = await object!.text();
    expect(text).not.toContain(key);
    const entry = JSON.parse(text);
    expect(entry).toMatchObject({ trace_id: traceId, model: logged, version: "1", tenant: expect.stringMatching(/^payload-tenant/) });
    expect(Date.parse(entry.at)).not.toBeNaN();
    expect(entry.request).toMatchObject({ encoding: "json", truncated: false, body: { inputs: mlp.inputs } });
    expect(entry.response).toMatchObject({ encoding: "json", truncated: false, body: { model_name: logged, outputs: answer.outputs } });

    // The logged model's object was written after the silent model's request: the silent one had its chance.
    expect(await logKeys(silent)).toEqual([]);
  });

  it("keeps one entry per request when clients send the same traceparent: the key holds the router's own span id", async () => {
    const logged = await uploaded("payload-same-trace", "?max_batch=64&log_payloads=1");
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const send = () => call(`/v2/models/${logged}/infer`, { method: "POST", key, body: JSON.stringify({ inputs: mlp.inputs }), headers: { traceparent } });
    const answers = [await send(), await send()];
    for (const answer of answers) expect(answer.status, await answer.text()).toBe(200);
    const spans = answers.map((a) => TRACEPARENT.exec(a.headers.get("traceparent") ?? "")?.[2]);
    expect(new Set(spans).size).toBe(2);
    await vi.waitUntil(async () => (await logKeys(logged)).length === 2, { timeout: 5_000, interval: 20 });
    expect((await logKeys(logged)).every((k) => k.includes("/4bf92f3577b34da6a3ce929d0e0e4736-"))).toBe(true);
  });

  it("logs binary-extension bodies as the base64 of the exact bytes sent and answered", async () => {
    const logged = await uploaded("payload-bin", "?max_batch=64&log_payloads=1");
    const inputs = mlp.inputs.map((t) => ({ name: t.name, datatype: "FP32" as const, shape: t.shape, data: Float32Array.from(t.data) }));
    const encoded = encodeInferRequest({ inputs, binaryByDefault: true }, { binary: true });
    const headers = { "inference-header-content-length": String(encoded.headerLength) };
    const response = await call(`/v2/models/${logged}/infer`, { method: "POST", key, body: encoded.body, headers });
    const answered = new Uint8Array(await response.arrayBuffer());
    expect(response.status, new TextDecoder().decode(answered)).toBe(200);
    expect(response.headers.get("inference-header-content-length")).not.toBeNull();

    await vi.waitUntil(async () => (await logKeys(logged)).length > 0, { timeout: 5_000, interval: 20 });
    const entry = JSON.parse(await (await env.MODELS.get((await logKeys(logged))[0]!))!.text());
    expect(entry.request).toEqual({ encoding: "base64", body: base64(encoded.body), bytes: encoded.body.byteLength, truncated: false });
    expect(entry.response).toEqual({ encoding: "base64", body: base64(answered), bytes: answered.byteLength, truncated: false });
  });

  it("cuts a side over 1 MB at 1 MB, flagged truncated, with its whole size in bytes", async () => {
    const logged = await uploaded("payload-big", "?max_batch=64&log_payloads=1");
    // The request's id is echoed in the answer: both sides pass the cap.
    const body = JSON.stringify({ id: "x".repeat(PAYLOAD_LOG_CAP_BYTES + 1000), inputs: mlp.inputs });
    const response = await call(`/v2/models/${logged}/infer`, { method: "POST", key, headers: { "content-type": "application/json" }, body });
    const answered = await response.text();
    expect(response.status, answered.slice(0, 200)).toBe(200);

    const entry = await loggedEntry(logged);
    expect(entry.request).toEqual({ encoding: "text", body: body.slice(0, PAYLOAD_LOG_CAP_BYTES), bytes: body.length, truncated: true });
    expect(entry.response).toEqual({ encoding: "text", body: answered.slice(0, PAYLOAD_LOG_CAP_BYTES), bytes: answered.length, truncated: true });
  });

  it.each(["1.5", "x", "-0.1", ""])("refuses log_payloads=%s at upload with a 400 and leaves nothing in R2", async (rate) => {
    const model = freshName("payload-bad");
    const response = await uploadModel(model, "1", modelBytes, `?log_payloads=${rate}`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain("log_payloads must be a number from 0 to 1");
    expect((await env.MODELS.list({ prefix: `models/${model}/` })).objects).toEqual([]);
  });
});

const base64 = (bytes: Uint8Array): string => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
