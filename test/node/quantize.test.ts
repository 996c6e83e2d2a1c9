/**
 * @module quantizeModel against onnxruntime-node: the int8 and fp16 copies of mlp-tiny and
 * mlp-heavy stay within a stated bound of the fp32 model's outputs on the same probe inputs, the
 * int8 file is under 30% of the fp32 one, Gemm's transB, alpha and beta and a weight shared by two
 * nodes are handled, and bytes that are not ONNX are refused.
 *
 * The bounds are on the max absolute error over the fp32 output's max |value| (probe-error.ts
 * says why not per element). int8: weights round to 1/254 of their column's largest magnitude and
 * activations to 1/255 of their range, each a relative error of about 0.4% per element; three
 * layers compound it, and the measured error is 0.8% (mlp-tiny) and 1.1% (mlp-heavy). 3% leaves
 * room for other CPUs' kernels while a real fault (a scale off, a weight transposed, a zero point
 * wrong) gives errors of order 100%. fp16: a half rounds to 2^-11 (0.05%) of the weight; measured
 * 0.04%, bound 0.2%. Top-1 agreement: at least 14 of 16 rows (measured: all).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import { catalogEntry, modelBytes } from "../../scripts/models/catalog.ts";
import { DataType, decodeModel, encodeModel, floatValues, initializer, intAttribute, node, onnx } from "../../scripts/models/onnx-graph.ts";
import { measureProbeError } from "../../scripts/models/probe-run.ts";
import { NotOnnxError, quantizeModel, type QuantizeMode } from "../../scripts/models/quantize.ts";
import { mulberry32 } from "../../protocol/prng.ts";

const BOUNDS: Record<QuantizeMode, number> = { int8: 0.03, fp16: 0.002 };
const PROBES = 16;
const MIN_TOP1 = 14 / 16;

for (const name of ["mlp-tiny", "mlp-heavy"]) {
  describe(name, () => {
    const fp32 = modelBytes(catalogEntry(name));
    for (const mode of ["int8", "fp16"] as const) {
      test(`${mode} outputs stay within ${BOUNDS[mode] * 100}% of the fp32 model's largest output`, async () => {
        const result = quantizeModel(fp32, { mode });
        assert.deepEqual(result.quantized, ["fc0", "fc1", "fc2"]);
        assert.deepEqual(result.skipped, []);
        const [output] = (await measureProbeError(ort, fp32, result.bytes, PROBES)).outputs;
        assert.ok(output!.maxRelative < BOUNDS[mode], `max relative error ${output!.maxRelative}`);
        // Not trivially equal either: the weights did change.
        assert.ok(output!.maxAbsolute > 0, "no difference at all: were the weights rewritten?");
        assert.ok(output!.top1Agreement! >= MIN_TOP1, `top-1 agreement ${output!.top1Agreement}`);
      });
    }
  });
}

test("the int8 mlp-heavy file is under 30% of the fp32 one and holds its weights as 8-bit", () => {
  const fp32 = modelBytes(catalogEntry("mlp-heavy"));
  const int8 = quantizeModel(fp32, { mode: "int8" }).bytes;
  assert.ok(int8.length < 0.3 * fp32.length, `${int8.length} of ${fp32.length}`);
  const graph = decodeModel(int8).graph!;
  const ops = graph.node!.map((n) => n.opType);
  assert.equal(ops.filter((op) => op === "MatMulInteger").length, 3);
  assert.equal(ops.filter((op) => op === "Gemm").length, 0);
  const floatElements = graph.initializer!.filter((t) => t.dataType === DataType.FLOAT).reduce((sum, t) => sum + floatValues(t)!.length, 0);
  assert.ok(floatElements < 20_000, `${floatElements} float elements left (biases and scales only)`);
});

test("the fp16 mlp-heavy file is about half the fp32 one", () => {
  const fp32 = modelBytes(catalogEntry("mlp-heavy"));
  const fp16 = quantizeModel(fp32, { mode: "fp16" }).bytes;
  assert.ok(fp16.length < 0.51 * fp32.length, `${fp16.length} of ${fp32.length}`);
});

/** Weights uniform in [-1, 1) from a seed. */
function randomWeight(name: string, dims: number[], seed: number) {
  const random = mulberry32(seed);
  return initializer(
    name,
    DataType.FLOAT,
    dims,
    Float32Array.from({ length: dims[0]! * (dims[1] ?? 1) }, () => random() * 2 - 1),
  );
}

/**
 * x[b,8] -> MatMul(W) -> Relu -> MatMul(W again) -> h; y = Gemm(h, B, C, transB=1, alpha=0.5);
 * z = Gemm(h, B2, C2, beta=2), which int8 must leave in fp32 (beta scales the bias, not the product).
 */
function handBuiltModel(): Uint8Array {
  const value = (name: string, width: number) => ({
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: "batch" }, { dimValue: width }] } } },
  });
  const floatAttribute = (name: string, f: number) => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: "hand-built",
      node: [
        node("MatMul", ["x", "W"], ["h1"], "first"),
        node("Relu", ["h1"], ["h2"], "relu"),
        node("MatMul", ["h2", "W"], ["h"], "second"),
        node("Gemm", ["h", "B", "C"], ["y"], "transposed", [intAttribute("transB", 1), floatAttribute("alpha", 0.5)]),
        node("Gemm", ["h", "B2", "C2"], ["z"], "beta", [floatAttribute("beta", 2)]),
      ],
      initializer: [
        randomWeight("W", [8, 8], 1),
        randomWeight("B", [5, 8], 2),
        randomWeight("C", [5], 3),
        randomWeight("B2", [8, 3], 4),
        randomWeight("C2", [3], 5),
      ],
      input: [value("x", 8)],
      output: [value("y", 5), value("z", 3)],
    },
  });
  return encodeModel(model);
}

describe("a hand-built graph: a shared weight, Gemm with transB and alpha, Gemm with beta", () => {
  const fp32 = handBuiltModel();

  test("int8 quantises the weight once for both MatMuls and leaves the beta Gemm in fp32", async () => {
    const result = quantizeModel(fp32, { mode: "int8" });
    assert.deepEqual(result.quantized, ["first", "second", "transposed"]);
    assert.deepEqual(result.skipped, [{ node: "beta", reason: "Gemm with beta 2 on its bias" }]);
    const graph = decodeModel(result.bytes).graph!;
    const names = graph.initializer!.map((t) => t.name);
    assert.equal(names.filter((n) => n === "W_quantized").length, 1);
    assert.ok(!names.includes("W") && !names.includes("B"), "the fp32 weights are gone");
    assert.ok(names.includes("B2"), "the skipped Gemm keeps its weight");
    // One DynamicQuantizeLinear per activation: x, h2 and h.
    assert.equal(graph.node!.filter((n) => n.opType === "DynamicQuantizeLinear").length, 3);
    for (const output of (await measureProbeError(ort, fp32, result.bytes, PROBES)).outputs) {
      assert.ok(output.maxRelative < BOUNDS.int8, `${output.name}: max relative error ${output.maxRelative}`);
    }
  });

  test("fp16 converts every weight, the beta Gemm's too, and keeps the outputs close", async () => {
    const result = quantizeModel(fp32, { mode: "fp16" });
    assert.deepEqual(result.quantized, ["first", "second", "transposed", "beta"]);
    const graph = decodeModel(result.bytes).graph!;
    assert.deepEqual(
      graph.initializer!.filter((t) => t.dataType === DataType.FLOAT16).map((t) => t.name),
      ["W_fp16", "B_fp16", "B2_fp16"],
    );
    for (const output of (await measureProbeError(ort, fp32, result.bytes, PROBES)).outputs) {
      assert.ok(output.maxRelative < BOUNDS.fp16, `${output.name}: max relative error ${output.maxRelative}`);
    }
  });
});

describe("bytes that are not ONNX are refused", () => {
  const random = mulberry32(7);
  const cases: [string, Uint8Array][] = [
    ["text", new TextEncoder().encode('{"not": "a model"}\n')],
    ["empty", new Uint8Array(0)],
    ["a valid protobuf without a graph", onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, producerName: "x" })).finish()],
    ["random bytes", Uint8Array.from({ length: 4096 }, () => Math.floor(random() * 256))],
  ];
  for (const [label, bytes] of cases) {
    for (const mode of ["int8", "fp16"] as const) {
      test(`${label} (${mode})`, () => {
        assert.throws(
          () => quantizeModel(bytes, { mode }),
          (error: unknown) => error instanceof NotOnnxError && /^not an ONNX model: /.test(error.message),
        );
      });
    }
  }

  test("a model without a MatMul or Gemm weight says there is nothing to quantise", () => {
    const identity = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      graph: { name: "identity", node: [node("Identity", ["x"], ["y"], "identity")], output: [{ name: "y" }] },
    });
    assert.throws(() => quantizeModel(encodeModel(identity), { mode: "int8" }), /nothing to quantise/);
  });
});
