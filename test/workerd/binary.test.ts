/**
 * The binary_tensor_data extension both ways: binary inputs, binary outputs (per output and by
 * default), mixed JSON and binary, with results equal to the JSON path and to onnxruntime-node.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { decodeInferResponse, encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { call, createTenant, ensureDemoModel } from "./helpers.ts";
import { expectOutputsClose, loadFixture, type Fixture, type FixtureTensor } from "./fixtures.ts";

let key: string;
let mlp: Fixture;
let speech: Fixture;

beforeAll(async () => {
  await ensureDemoModel("mlp-tiny");
  await ensureDemoModel("silero-vad");
  key = await createTenant("binary", "premium");
  mlp = await loadFixture("mlp-tiny");
  speech = await loadFixture("silero-speech");
});

function toTensor(t: FixtureTensor): Tensor {
  if (t.datatype === "INT64") return { name: t.name, datatype: "INT64", shape: t.shape, data: BigInt64Array.from(t.data, BigInt) };
  return { name: t.name, datatype: "FP32", shape: t.shape, data: Float32Array.from(t.data) };
}

async function post(model: string, encoded: { body: Uint8Array; headerLength: number | undefined }) {
  const headers: Record<string, string> = {};
  if (encoded.headerLength !== undefined) headers["inference-header-content-length"] = String(encoded.headerLength);
  const response = await call(`/v2/models/${model}/infer`, { method: "POST", key, body: encoded.body, headers });
  const raw = response.headers.get("inference-header-content-length");
  const bytes = new Uint8Array(await response.arrayBuffer());
  expect(response.status, new TextDecoder().decode(bytes)).toBe(200);
  return { response, result: decodeInferResponse(bytes, raw === null ? undefined : Number(raw)) };
}

const plain = (tensors: Tensor[]) => tensors.map((t) => ({ name: t.name, shape: t.shape, data: Array.from(t.data as Float32Array) }));

describe("binary tensors", () => {
  it("binary inputs, binary outputs", async () => {
    const { response, result } = await post("mlp-tiny", encodeInferRequest({ inputs: mlp.inputs.map(toTensor), binaryByDefault: true }, { binary: true }));
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    expect(Number(response.headers.get("inference-header-content-length"))).toBeGreaterThan(0);
    expect(result.outputs[0]!.data).toBeInstanceOf(Float32Array);
    expectOutputsClose(plain(result.outputs), mlp.outputs);
  });

  it("binary inputs, JSON outputs", async () => {
    const { response, result } = await post("mlp-tiny", encodeInferRequest({ inputs: mlp.inputs.map(toTensor) }, { binary: true }));
    expect(response.headers.get("content-type")).toMatch(/application\/json/);
    expect(response.headers.get("inference-header-content-length")).toBeNull();
    expectOutputsClose(plain(result.outputs), mlp.outputs);
  });

  it("JSON inputs, one output asked for in binary (silero: output binary, state in JSON)", async () => {
    const encoded = encodeInferRequest(
      {
        inputs: speech.inputs.map(toTensor),
        outputs: [
          { name: "output", binary: true },
          { name: "stateN", binary: false },
        ],
      },
      { binary: false },
    );
    const { result } = await post("silero-vad", encoded);
    expect(result.outputs.map((o) => o.name)).toEqual(["output", "stateN"]);
    expect(result.outputs[0]!.data).toBeInstanceOf(Float32Array);
    expectOutputsClose(plain(result.outputs), speech.outputs);
  });

  it("the int64 scalar `sr` travels in binary too", async () => {
    const { result } = await post("silero-vad", encodeInferRequest({ inputs: speech.inputs.map(toTensor), binaryByDefault: true }, { binary: true }));
    expectOutputsClose(plain(result.outputs), speech.outputs);
  });

  it("a hand-built binary request (not through our encoder) gives the JSON answer", async () => {
    const [input] = mlp.inputs;
    const floats = Float32Array.from(input!.data);
    const header = new TextEncoder().encode(
      JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: input!.shape, parameters: { binary_data_size: floats.byteLength } }] }),
    );
    const body = new Uint8Array(header.byteLength + floats.byteLength);
    body.set(header);
    body.set(new Uint8Array(floats.buffer), header.byteLength);
    const response = await call("/v2/models/mlp-tiny/infer", {
      method: "POST",
      key,
      body,
      headers: { "inference-header-content-length": String(header.byteLength) },
    });
    expect(response.status).toBe(200);
    expectOutputsClose(((await response.json()) as { outputs: FixtureTensor[] }).outputs, mlp.outputs);
  });
});
