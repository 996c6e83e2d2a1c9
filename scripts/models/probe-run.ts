/**
 * @module Runs probe inputs through an onnxruntime InferenceSession (node or web: both take the
 * same tensors, typed here with onnxruntime-web's declarations, a runtime
 * dependency) and measures a quantised model against its original.
 */
import type * as Ort from "onnxruntime-web";
import { halvesToFloats } from "../../protocol/oip/fp16.ts";
import { decodeModel, modelSignature, type SignatureEntry } from "./onnx-graph.ts";
import { compareOutputs, type OutputError, type OutputValues } from "./probe-error.ts";
import { probeInputs, type ProbeTensor } from "./probe-inputs.ts";

/** The parts of onnxruntime (node or web) this module uses. */
export interface OrtLike {
  Tensor: typeof Ort.Tensor;
  InferenceSession: { create(bytes: Uint8Array, options?: Ort.InferenceSession.SessionOptions): Promise<Ort.InferenceSession> };
}

const ORT_TYPES: Record<string, Ort.Tensor.Type> = {
  FP32: "float32",
  FP16: "float16",
  FP64: "float64",
  BOOL: "bool",
  UINT8: "uint8",
  INT8: "int8",
  UINT16: "uint16",
  INT16: "int16",
  UINT32: "uint32",
  INT32: "int32",
  INT64: "int64",
  UINT64: "uint64",
};

function toOrt(ort: OrtLike, tensor: ProbeTensor): Ort.Tensor {
  const type = ORT_TYPES[tensor.datatype];
  if (!type) throw new Error(`no onnxruntime type for ${tensor.datatype}`);
  return new ort.Tensor(type, tensor.data as Ort.Tensor.DataType, tensor.shape);
}

/** An output as plain numbers: float16 bits decoded, 64-bit integers converted. */
function toValues(name: string, tensor: Ort.Tensor): OutputValues {
  const data = tensor.data;
  let values: ArrayLike<number>;
  if (tensor.type === "float16") values = halvesToFloats(data as Uint16Array);
  else if (data instanceof BigInt64Array || data instanceof BigUint64Array) values = Array.from(data, Number);
  else if (Array.isArray(data)) throw new Error(`output ${name} is a string tensor: it has no numeric error`);
  else values = data as ArrayLike<number>;
  return { name, shape: tensor.dims, values };
}

/** Each probe's outputs, in `outputs` order. */
export async function runProbes(
  ort: OrtLike,
  session: Ort.InferenceSession,
  probes: ProbeTensor[][],
  outputs: readonly SignatureEntry[],
): Promise<OutputValues[][]> {
  const results: OutputValues[][] = [];
  for (const probe of probes) {
    const feeds = Object.fromEntries(probe.map((tensor) => [tensor.name, toOrt(ort, tensor)]));
    const fetched = await session.run(feeds);
    results.push(outputs.map((spec) => toValues(spec.name, fetched[spec.name]!)));
  }
  return results;
}

export interface ProbeReport {
  probes: number;
  seed: number;
  outputs: OutputError[];
}

/** Runs `count` generated probes through both models with `ort` and compares the outputs. */
export async function measureProbeError(ort: OrtLike, original: Uint8Array, quantized: Uint8Array, count: number, seed = 1): Promise<ProbeReport> {
  const signature = modelSignature(decodeModel(original));
  const probes = probeInputs(signature.inputs, count, seed);
  const run = async (bytes: Uint8Array) => {
    const session = await ort.InferenceSession.create(bytes);
    try {
      return await runProbes(ort, session, probes, signature.outputs);
    } finally {
      await session.release();
    }
  };
  const reference = await run(original);
  const candidate = await run(quantized);
  return { probes: count, seed, outputs: compareOutputs(signature.outputs, reference, candidate) };
}
