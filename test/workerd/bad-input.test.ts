/**
 * @module Every client mistake gets its status and a message that says what was wrong, and the
 * platform keeps serving afterwards.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import { NAME_PATTERN } from "../../protocol/model-record.ts";
import { ADMIN, call, createTenant, ensureDemoModel, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture } from "./fixtures.ts";

let key: string;
let keysByTier: Record<"free" | "standard" | "premium", string>;
let mlpInputs: unknown;

beforeAll(async () => {
  await ensureDemoModel("mlp-tiny");
  await ensureDemoModel("silero-vad");
  key = await createTenant("bad-input", "standard");
  keysByTier = { free: await createTenant("bad-input-free", "free"), standard: key, premium: await createTenant("bad-input-premium", "premium") };
  mlpInputs = (await loadFixture("mlp-tiny")).inputs;
});

const MB = 1024 * 1024;
const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const input = (overrides: Record<string, unknown>) => ({
  inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: Array(16).fill(0.5), ...overrides }],
});

async function expectError(response: Response, status: number, message: RegExp): Promise<void> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/application\/json/);
  const body = JSON.parse(text) as { error: string };
  expect(body.error).toMatch(message);
}

/** A body of `bytes` zeros sent in 1 MB chunks, so the request has no Content-Length. */
function chunkedBody(bytes: number): ReadableStream<Uint8Array> {
  let left = bytes;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left <= 0) return controller.close();
      const size = Math.min(MB, left);
      left -= size;
      controller.enqueue(new Uint8Array(size));
    },
  });
}

describe("malformed requests", () => {
  it("malformed JSON is 400", async () => {
    const response = await call("/v2/models/mlp-tiny/infer", { method: "POST", key, body: '{"inputs": [' });
    await expectError(response, 400, /^request body is not valid JSON: /);
  });

  it("missing inputs is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, { id: "x" }), 400, /^inputs must be a non-empty array, got undefined$/);
  });

  it("an input without a shape is 400", async () => {
    await expectError(
      await inferJson("mlp-tiny", key, { inputs: [{ name: "input", datatype: "FP32", data: [1] }] }),
      400,
      /^input 'input': shape must be an array of non-negative integers, got undefined$/,
    );
  });

  it("an unknown datatype is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({ datatype: "FLOAT" })), 400, /^input 'input': unknown datatype "FLOAT"; expected one of /);
  });

  it("the wrong datatype for the model is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({ datatype: "INT32", data: Array(16).fill(1) })), 400, /^input 'input' must be FP32, got INT32$/);
  });

  it("shape and data length disagreeing is 400", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({ data: Array(15).fill(0.5) })), 400, /^input 'input': shape \[1,16\] needs 16 elements, got 15$/);
  });

  it("a shape the model cannot take is 400", async () => {
    await expectError(
      await inferJson("mlp-tiny", key, input({ shape: [1, 8], data: Array(8).fill(0.5) })),
      400,
      /^input 'input': dimension 1 must be 16 \(shape \[-1,16\]\), got 8 \(shape \[1,8\]\)$/,
    );
  });

  it("a string where a number belongs is 400", async () => {
    await expectError(
      await inferJson("mlp-tiny", key, input({ data: [...Array(15).fill(0.5), "NaN"] })),
      400,
      /^input 'input': data\[15\] must be a FP32 number, got "NaN"$/,
    );
  });

  it("NaN in a binary FP32 input is 400", async () => {
    const floats = new Float32Array(16).fill(0.25);
    floats[3] = Number.NaN;
    const header = new TextEncoder().encode(
      JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], parameters: { binary_data_size: 64 } }] }),
    );
    const body = new Uint8Array(header.byteLength + 64);
    body.set(header);
    body.set(new Uint8Array(floats.buffer), header.byteLength);
    const response = await call("/v2/models/mlp-tiny/infer", {
      method: "POST",
      key,
      body,
      headers: { "inference-header-content-length": String(header.byteLength) },
    });
    await expectError(response, 400, /^input 'input': element 3 \(index \[0,3\]\) is NaN; only finite values are accepted$/);
  });

  it("a truncated binary payload is 400", async () => {
    const header = new TextEncoder().encode(
      JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], parameters: { binary_data_size: 64 } }] }),
    );
    const body = new Uint8Array(header.byteLength + 40);
    body.set(header);
    const response = await call("/v2/models/mlp-tiny/infer", {
      method: "POST",
      key,
      body,
      headers: { "inference-header-content-length": String(header.byteLength) },
    });
    await expectError(response, 400, /^binary data is truncated: the inputs declare 64 bytes after the JSON header, the request has 40$/);
  });

  it("a header length past the body is 400", async () => {
    const response = await call("/v2/models/mlp-tiny/infer", { method: "POST", key, body: "{}", headers: { "inference-header-content-length": "999" } });
    await expectError(response, 400, /^Inference-Header-Content-Length 999 exceeds the request body's 2 bytes$/);
  });

  it("a batch above max_batch is 400", async () => {
    await expectError(
      await inferJson("mlp-tiny", key, input({ shape: [65, 16], data: Array(65 * 16).fill(0.1) })),
      400,
      /^input 'input': batch 65 exceeds the model's max_batch 64$/,
    );
  });

  it("a tensor too large for the edge is 413", async () => {
    const response = await inferJson("mlp-tiny", key, { inputs: [{ name: "input", datatype: "FP32", shape: [100000000, 16], data: [] }] });
    await expectError(response, 413, new RegExp(`^input 'input': shape \\[100000000,16\\] has 1600000000 elements; the limit is ${env.MAX_TENSOR_ELEMENTS}$`));
  });

  it("inputs whose shapes pass the element limit together are 413, though each is under it", async () => {
    const half = Number(env.MAX_TENSOR_ELEMENTS) / 2 + 1;
    const tensor = (name: string) => ({ name, datatype: "FP32", shape: [half], data: [] });
    const response = await inferJson("mlp-tiny", key, { inputs: [tensor("input"), tensor("extra")] });
    await expectError(
      response,
      413,
      new RegExp(
        `^the inputs have ${2 * half} elements in all \\('input' ${half}, 'extra' ${half}\\); the limit across a request's inputs is ${env.MAX_TENSOR_ELEMENTS}$`,
      ),
    );
  });

  it("1 MB of nested JSON is refused before it is parsed, and the edge serves afterwards", async () => {
    const body = `{"inputs":${"[".repeat(MB / 2)}${"]".repeat(MB / 2)}}`;
    await expectError(await call("/v2/models/mlp-tiny/infer", { method: "POST", key, body }), 400, /^the request JSON is nested more than 67 levels deep$/);
    expect((await inferJson("mlp-tiny", key, { inputs: mlpInputs })).status).toBe(200);
  });

  it("an unknown output is 400", async () => {
    await expectError(
      await inferJson("mlp-tiny", key, { inputs: mlpInputs, outputs: [{ name: "logits" }] }),
      400,
      /^the model has no output 'logits'; its outputs are output$/,
    );
  });
});

describe("body limits", () => {
  const globalLimit = (): number => Number(env.MAX_INFER_BODY_BYTES);
  const send = (tier: keyof typeof TIERS, body: Uint8Array | ReadableStream<Uint8Array>) =>
    call("/v2/models/mlp-tiny/infer", { method: "POST", key: keysByTier[tier], body });

  it("a body over the Worker's limit is 413, whatever the tier allows", async () => {
    expect(TIERS.premium.maxBatchPayloadBytes).toBeGreaterThanOrEqual(globalLimit());
    const response = await send("premium", new Uint8Array(globalLimit() + 1));
    await expectError(response, 413, new RegExp(`^request body of ${globalLimit() + 1} bytes exceeds the limit of ${globalLimit()} bytes$`));
  });

  // Sizes between a tier's limit and the Worker's: only the tier's own limit can refuse them.
  for (const tier of ["standard", "free"] as const) {
    const tierLimit = TIERS[tier].maxBatchPayloadBytes;
    const size = tierLimit + MB;

    it(`a ${tier} body over the ${tier} limit but under the Worker's is 413, declared or chunked`, async () => {
      expect(size).toBeLessThan(globalLimit());
      await expectError(await send(tier, new Uint8Array(size)), 413, new RegExp(`^request body of ${size} bytes exceeds the limit of ${tierLimit} bytes$`));
      await expectError(await send(tier, chunkedBody(size)), 413, new RegExp(`^request body exceeds the limit of ${tierLimit} bytes$`));
    });
  }

  it("the same size is read by a tier that allows it (then refused as the garbage it is)", async () => {
    const size = TIERS.standard.maxBatchPayloadBytes + MB;
    expect(TIERS.premium.maxBatchPayloadBytes).toBeGreaterThan(size);
    await expectError(await send("premium", new Uint8Array(size)), 400, /^request body is not valid JSON: /);
  });
});

describe("unknown things", () => {
  it("an unknown model is 404", async () => {
    await expectError(await inferJson("no-such-model", key, input({})), 404, /^unknown model 'no-such-model'$/);
  });

  it("an unknown version is 404", async () => {
    await expectError(await inferJson("mlp-tiny", key, input({}), "99"), 404, /^unknown version '99' of model 'mlp-tiny'$/);
  });

  it("an unknown route is 404", async () => {
    await expectError(await call("/v3/anything"), 404, /^no route for GET \/v3\/anything$/);
  });

  it("the benchmark's routes are unknown unless BENCH_ROUTES is on: no unauthenticated way to a model or a host", async () => {
    const response = await call("/bench/bare/mlp-tiny/infer", { method: "POST", body: JSON.stringify(input({})) });
    await expectError(response, 404, /^no route for POST \/bench\/bare\/mlp-tiny\/infer$/);
    const parse = await call("/bench/parse/mlp-tiny", { method: "POST", body: JSON.stringify(input({})) });
    await expectError(parse, 404, /^no route for POST \/bench\/parse\/mlp-tiny$/);
    const warm = await call("/bench/warm/mlp-tiny?replica=1000", { method: "POST" });
    await expectError(warm, 404, /^no route for POST \/bench\/warm\/mlp-tiny$/);
  });
});

describe("model uploads", () => {
  it("a non-ONNX upload is 400 and registers nothing", async () => {
    const response = await uploadModel("garbage", "1", new TextEncoder().encode("this is not an onnx model"));
    await expectError(response, 400, /^not a loadable ONNX model: /);
    const listed = await call("/admin/models/garbage", { key: ADMIN });
    expect(listed.status).toBe(404);
  });

  it("a bad placement is 400", async () => {
    const response = await uploadModel("mlp-x", "1", new Uint8Array([1, 2, 3]), "?placement=moon");
    await expectError(response, 400, /^placement must be one of edge, origin, auto, got 'moon'$/);
  });

  // Names that reach the route (no `..`, which the URL parser resolves to another path) but that
  // NAME_PATTERN refuses: they would become R2 keys and file paths on the origins.
  const badNames: [string, string][] = [
    ["-leading-dash", "-leading-dash"],
    ["has%20space", "has space"],
    ["a%2Fb", "a/b"],
    ["x".repeat(65), "x".repeat(65)],
  ];
  for (const [inPath, name] of badNames) {
    it(`a bad model name is 400 and registers nothing: '${name.length > 20 ? `${name.slice(0, 8)}... (${name.length} characters)` : name}'`, async () => {
      expect(NAME_PATTERN.test(name)).toBe(false);
      const response = await uploadModel(inPath, "1", new Uint8Array([1, 2, 3]));
      await expectError(response, 400, new RegExp(`^model name '${escaped(name)}' must match ${escaped(NAME_PATTERN.source)}$`));
      expect((await call(`/admin/models/${inPath}`, { key: ADMIN })).status).toBe(404);
    });
  }

  it("a bad version is 400", async () => {
    const response = await uploadModel("mlp-y", "1%20beta", new Uint8Array([1, 2, 3]));
    await expectError(response, 400, new RegExp(`^version '1 beta' must match ${escaped(NAME_PATTERN.source)}$`));
  });
});

describe("after all of that", () => {
  it("the platform still serves", async () => {
    const fixture = await loadFixture("mlp-tiny");
    const response = await inferJson("mlp-tiny", key, { inputs: fixture.inputs });
    expect(response.status).toBe(200);
  });
});
