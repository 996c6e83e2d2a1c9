/**
 * @module Deterministic FP32 MLP ONNX models: no licence-clean heavy model ships on npm, so the
 * origin/GPU paths and tests use generated ones whose weights are reproducible from a seed and
 * whose outputs a plain-JS forward pass can check.
 */
import onnxProto from "onnx-proto";
import { mulberry32 } from "../../protocol/prng.ts";

export { mulberry32 };

const { onnx } = onnxProto;

export interface MlpSpec {
  /** Widths from input to output, e.g. [16, 32, 4]: two Gemm layers, Relu between them. */
  layers: number[];
  seed: number;
  inputName?: string;
  outputName?: string;
  /** Default opset. Gemm/Relu have been stable since 13; 17 pairs with IR version 8 (onnx 1.12). */
  opset?: number;
}

export interface MlpLayer {
  inFeatures: number;
  outFeatures: number;
  /** Row-major [inFeatures, outFeatures], so Y = X · W + b (Gemm with transB = 0). */
  weight: Float32Array;
  bias: Float32Array;
}

/**
 * The weights of the MLP, filled straight into typed arrays (a 168 MB model must not pass through
 * JS number arrays). He-uniform weights (bound sqrt(6 / fan_in)) keep activations O(1) through
 * the Relu stack; biases use the smaller PyTorch bound 1 / sqrt(fan_in).
 */
export function mlpWeights(spec: Pick<MlpSpec, "layers" | "seed">): MlpLayer[] {
  const { layers, seed } = spec;
  if (layers.length < 2 || layers.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new Error(`mlp: layers must be >= 2 positive integers, got [${layers.join(", ")}]`);
  }
  const random = mulberry32(seed);
  const result: MlpLayer[] = [];
  for (let l = 0; l + 1 < layers.length; l++) {
    const inFeatures = layers[l]!;
    const outFeatures = layers[l + 1]!;
    const weight = new Float32Array(inFeatures * outFeatures);
    const wBound = Math.sqrt(6 / inFeatures);
    for (let i = 0; i < weight.length; i++) weight[i] = (random() * 2 - 1) * wBound;
    const bias = new Float32Array(outFeatures);
    const bBound = 1 / Math.sqrt(inFeatures);
    for (let i = 0; i < bias.length; i++) bias[i] = (random() * 2 - 1) * bBound;
    result.push({ inFeatures, outFeatures, weight, bias });
  }
  return result;
}

/** Plain-JS reference forward pass (float64 accumulation) for checking onnxruntime's output. */
export function mlpForward(weights: MlpLayer[], input: Float32Array, batch: number): Float32Array {
  let x: Float64Array = Float64Array.from(input);
  weights.forEach((layer, index) => {
    const { inFeatures: k, outFeatures: n, weight, bias } = layer;
    if (x.length !== batch * k) throw new Error(`mlpForward: layer ${index} expects ${batch}x${k}`);
    const y = new Float64Array(batch * n);
    for (let r = 0; r < batch; r++) {
      for (let j = 0; j < n; j++) {
        let sum = bias[j]!;
        for (let i = 0; i < k; i++) sum += x[r * k + i]! * weight[i * n + j]!;
        // Relu between layers only: the last layer's outputs stay signed.
        y[r * n + j] = index < weights.length - 1 && sum < 0 ? 0 : sum;
      }
    }
    x = y;
  });
  return Float32Array.from(x);
}

// ONNX stores raw_data little-endian; a Float32Array view is only that on little-endian hosts.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function floatInitializer(name: string, dims: number[], values: Float32Array) {
  if (!LITTLE_ENDIAN) throw new Error("mlp: big-endian hosts are not supported");
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    // raw_data, not float_data: a view on the same buffer, no per-element JS numbers.
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  });
}

function floatValueInfo(name: string, features: number) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: "batch" }, { dimValue: features }] },
      },
    },
  });
}

/** Serialises the MLP as ONNX bytes; same spec, same bytes (no timestamps, fixed node order). */
export function generateMlp(spec: MlpSpec, weights: MlpLayer[] = mlpWeights(spec)): Uint8Array {
  const inputName = spec.inputName ?? "input";
  const outputName = spec.outputName ?? "output";
  const opset = spec.opset ?? 17;
  const nodes = [];
  const initializers = [];
  let current = inputName;
  for (let l = 0; l < weights.length; l++) {
    const layer = weights[l]!;
    const last = l === weights.length - 1;
    const gemmOut = last ? outputName : `fc${l}_out`;
    initializers.push(floatInitializer(`fc${l}.weight`, [layer.inFeatures, layer.outFeatures], layer.weight));
    initializers.push(floatInitializer(`fc${l}.bias`, [layer.outFeatures], layer.bias));
    nodes.push(
      onnx.NodeProto.create({
        name: `fc${l}`,
        opType: "Gemm",
        input: [current, `fc${l}.weight`, `fc${l}.bias`],
        output: [gemmOut],
      }),
    );
    current = gemmOut;
    if (!last) {
      nodes.push(
        onnx.NodeProto.create({
          name: `relu${l}`,
          opType: "Relu",
          input: [gemmOut],
          output: [`relu${l}_out`],
        }),
      );
      current = `relu${l}_out`;
    }
  }
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "hotpath",
    producerVersion: "1",
    docString: `hotpath deterministic MLP layers=[${spec.layers.join(",")}] seed=${spec.seed}`,
    opsetImport: [{ domain: "", version: opset }],
    graph: {
      name: "mlp",
      node: nodes,
      initializer: initializers,
      input: [floatValueInfo(inputName, spec.layers[0]!)],
      output: [floatValueInfo(outputName, spec.layers.at(-1)!)],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
