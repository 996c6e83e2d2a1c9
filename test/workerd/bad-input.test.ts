/**
 * Every client mistake gets its status and a message that says what was wrong, and the platform
 * keeps serving afterwards.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN, call, createTenant, ensureDemoModel, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture } from "./fixtures.ts";

let key: string;
let mlpInputs: unknown;

beforeAll(async () => {
  await ensureDemoModel("mlp-tiny");
  await ensureDemoModel("silero-vad");
  key = await createTenant("bad-input", "standard");
  mlpInputs = (await loadFixture("mlp-tiny")).inputs;
});

const input = (overrides: Record<string, unknown>) => ({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: Array(16).fill(0.5), ...overrides }] });

async function expectError(response: Response, status: number, message: RegExp): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/application\/json/);
  const body = JSON.parse(text) as { error: string };
  expect(body.error).toMatch(message);
}

describe("malformed requests", () => {
  it("malformed JSON is 400", async () => {
    const response = await call("/v2/models/mlp-tiny/infer", { method: "POST", key, body: '{"inputs": [' });
    await expectError(response, 400, /JSON/);
  });

  it("missing inputs is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, { id: "x" }), 400, /inputs/);
  });

  it("an input without a shape is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, { inputs: [{ name: "input", datatype: "FP32", data: [1] }] }), 400, /shape/);
  });

  it("an unknown datatype is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({ datatype: "FLOAT" })), 400, /datatype/);
  });

  it("the wrong datatype for the model is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({ datatype: "INT32", data: Array(16).fill(1) })), 400, /FP32/);
  });

  it("shape and data length disagreeing is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({ data: Array(15).fill(0.5) })), 400, /16/);
  });

  it("a shape the model cannot take is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({ shape: [1, 8], data: Array(8).fill(0.5) })), 400, /input/);
  });

  it("a string where a number belongs is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({ data: [...Array(15).fill(0.5), "NaN"] })), 400, /input/);
  });

  it("NaN in a binary FP32 input is 400", async () => {
    const floats = new Float32Array(16).fill(0.25);
    floats[3] = Number.NaN;
    const header = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], parameters: { binary_data_size: 64 } }] }));
    const body = new Uint8Array(header.byteLength + 64);
    body.set(header);
    body.set(new Uint8Array(floats.buffer), header.byteLength);
    const response = await call("/v2/models/mlp-tiny/infer", { method: "POST", key, body, headers: { "inference-header-content-length": String(header.byteLength) } });
    await expectError(response, 400, /NaN|finite/);
  });

  it("a truncated binary payload is 400", async () => {
    const header = new TextEncoder().encode(JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], parameters: { binary_data_size: 64 } }] }));
    const body = new Uint8Array(header.byteLength + 40);
    body.set(header);
    const response = await call("/v2/models/mlp-tiny/infer", { method: "POST", key, body, headers: { "inference-header-content-length": String(header.byteLength) } });
    await expectError(response, 400, /binary|bytes/);
  });

  it("a header length past the body is 400", async () => {
    const response = await call("/v2/models/mlp-tiny/infer", { method: "POST", key, body: "{}", headers: { "inference-header-content-length": "999" } });
    await expectError(response, 400, /header|Inference-Header-Content-Length|length/i);
  });

  it("a batch above max_batch is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({ shape: [65, 16], data: Array(65 * 16).fill(0.1) })), 400, /max_batch/);
  });

  it("a body over the limit is 413", async () => {
    const big = new Uint8Array(16 * 1024 * 1024 + 1);
    const response = await call("/v2/models/mlp-tiny/infer", { method: "POST", key, body: big });
    await expectError(response, 413, /limit/);
  });

  it("a body over the limit without Content-Length is 413", async () => {
    const chunk = new Uint8Array(1024 * 1024);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 20) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await call("/v2/models/mlp-tiny/infer", { method: "POST", key, body: stream });
    await expectError(response, 413, /limit/);
  });

  it("a tensor too large for the edge is 413", async () => {
    const response = await inferJson("mlp-tiny", key, { inputs: [{ name: "input", datatype: "FP32", shape: [100000000, 16], data: [] }] });
    await expectError(response, 413, /elements|limit/);
  });

  it("an unknown output is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, { inputs: mlpInputs, outputs: [{ name: "logits" }] }), 400, /logits/);
  });
});

describe("unknown things", () => {
  it("an unknown model is 404", async () => {
    await expectError(await inferJson("no-such-model", key, input({})), 404, /no-such-model/);
  });

  it("an unknown version is 404", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({}), "99"), 404, /99/);
  });

  it("an unknown route is 404", async () => {
    await expectError(await call("/v3/anything"), 404, /no route/);
  });
});

describe("model uploads", () => {
  it("a non-ONNX upload is 400 and registers nothing", async () => {
    const response = await uploadModel("garbage", "1", new TextEncoder().encode("this is not an onnx model"));
    await expectError(response, 400, /ONNX/);
    const listed = await call("/admin/models/garbage", { key: ADMIN });
    expect(listed.status).toBe(404);
  });

  it("a bad placement is 400", async () => {
    const response = await uploadModel("mlp-x", "1", new Uint8Array([1, 2, 3]), "?placement=moon");
    await expectError(response, 400, /placement/);
  });

  it("a bad model name is 400", async () => {
    const response = await uploadModel("..", "1", new Uint8Array([1, 2, 3]));
    expect([400, 404]).toContain(response.status);
  });
});

describe("after all of that", () => {
  it("the platform still serves", async () => {
    const fixture = await loadFixture("mlp-tiny");
    const response = await inferJson("mlp-tiny", key, { inputs: fixture.inputs });
    expect(response.status).toBe(200);
  });
});
