/**
 * @module Tenants never see internal details: an input that passes the router's checks but that
 * onnxruntime refuses is a 400 that says what was sent, without onnxruntime's message (graph node
 * names, kernel statuses); a version whose bytes vanished from R2 is a 503 that names no R2 key.
 * The detail goes to the log for operators.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN, call, createTenant, ensureDemoModel, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { expectRefusal, freshName } from "./refusals.ts";

let key: string;
let mlp: Fixture;

beforeAll(async () => {
  await ensureDemoModel("silero-vad");
  key = await createTenant(freshName("details"), "premium");
  mlp = await loadFixture("mlp-tiny");
});

describe("what a tenant is told when the model cannot run", () => {
  it("an input onnxruntime refuses is a 400 naming what was sent, not onnxruntime's message", async () => {
    // Silero's input length is dynamic ([-1, -1]), so 3 samples pass every check the router
    // makes; the STFT's reflect padding inside the graph then needs at least 64 of them.
    const response = await inferJson("silero-vad", key, {
      inputs: [
        { name: "input", datatype: "FP32", shape: [1, 3], data: [0, 0, 0] },
        { name: "state", datatype: "FP32", shape: [2, 1, 128], data: Array(256).fill(0) },
        { name: "sr", datatype: "INT64", shape: [], data: [16000] },
      ],
    });
    const text = await response.text();
    expect(response.status, text).toBe(400);
    const { error } = JSON.parse(text) as { error: string };
    expect(error).toMatch(/^the model rejected the input: /);
    expect(error).toContain("input [1,3] FP32");
    // onnxruntime's message names the node ('/model/stft/padding/Pad') and its kernel status.
    expect(error).not.toMatch(/Pad|node|status|\/model\/|onnxruntime|ERROR_CODE/i);
  });

  it("a version whose bytes are gone from R2 is a 503 that names no R2 key", async () => {
    const name = freshName("details-gone");
    const upload = await uploadModel(name, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?placement=edge&max_batch=16");
    expect(upload.status, await upload.clone().text()).toBe(201);
    const served = await inferJson(name, key, { inputs: mlp.inputs });
    expect(served.status, await served.text()).toBe(200);

    // Cold the host (drop its warm session) and take the bytes away behind the registry's back.
    const host = await hostOf(name);
    expect(await env.MODEL_HOST.getByName(host).drop(name, "1")).toBe(true);
    const objects = await env.MODELS.list({ prefix: `models/${name}/` });
    expect(objects.objects.length).toBe(1);
    const r2Key = objects.objects[0]!.key;
    await env.MODELS.delete(r2Key);

    const error = await expectRefusal(await inferJson(name, key, { inputs: mlp.inputs }), 503);
    expect(error).toMatch(/bytes are unavailable/);
    expect(error).not.toContain(r2Key);
    expect(error).not.toMatch(/models\/|\.onnx|storage|R2/);
  });
});

/** The ModelHost the registry recorded for `name` (the upload's inspect and the first request record it). */
async function hostOf(name: string): Promise<string> {
  for (let polls = 0; polls < 200; polls++) {
    const described = (await (await call(`/admin/models/${name}`, { key: ADMIN })).json()) as { hosts: { host: string }[] };
    if (described.hosts[0]) return described.hosts[0].host;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no host recorded for ${name}`);
}
