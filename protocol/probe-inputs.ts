/**
 * @module Probe inputs made from a model's input signature with a seeded PRNG: what the accuracy
 * guard runs through a variant and its version's default bytes when the uploader sends none. Pure
 * TypeScript without Node or Worker APIs, so the edge (router/variants/) and the command line
 * (a quantize tool printing the error on probes) make the very same tensors from the same seed.
 */
import type { BatchAxes } from "./batching.ts";
import { badRequest } from "./errors.ts";
import { floatsToHalves } from "./oip/fp16.ts";
import { mulberry32 } from "./prng.ts";
import { elementCount, type Tensor, type TensorData, type TensorSpec } from "./oip/tensor.ts";

export interface ProbeOptions {
  /** Rows: the size of each input's batch axis (or of a dynamic first dimension when the batch axis is unknown). */
  count: number;
  seed?: number;
  /** Batch axis per input, as read from the model (protocol/batching.ts). */
  batchAxes?: BatchAxes;
  /** The size given to any other dynamic dimension; 32 suits image sides that must be multiples of 32. */
  dynamicDim?: number;
}

export const DEFAULT_PROBE_SEED = 2026;

/** Floats are drawn on the grid k / 1024 in [-1, 1), which FP16 holds exactly: a model and its fp16 copy see the very same numbers. */
const GRID = 1024;

/**
 * One tensor per input: floats uniform on the k / 1024 grid in [-1, 1), integers in [0, 10),
 * booleans 0 or 1. BYTES inputs cannot be made up meaningfully: 400, the uploader sends probes instead.
 *
 * @example generateProbeInputs([{ name: "input", datatype: "FP32", shape: [-1, 16] }], { count: 8 }) // [{ shape: [8, 16], data: Float32Array(128) }]
 */
export function generateProbeInputs(specs: readonly TensorSpec[], options: ProbeOptions): Tensor[] {
  const random = mulberry32(options.seed ?? DEFAULT_PROBE_SEED);
  return specs.map((spec) => {
    const batchAxis = options.batchAxes?.inputs[spec.name] ?? (spec.shape[0] === -1 ? 0 : null);
    const shape = spec.shape.map((dim, axis) => (axis === batchAxis ? options.count : dim >= 0 ? dim : (options.dynamicDim ?? 32)));
    return { name: spec.name, datatype: spec.datatype, shape, data: probeData(spec, elementCount(shape), random) };
  });
}

function probeData(spec: TensorSpec, length: number, random: () => number): TensorData {
  const floats = () => Float32Array.from({ length }, () => (Math.floor(random() * 2 * GRID) - GRID) / GRID);
  const ints = () => Array.from({ length }, () => Math.floor(random() * 10));
  switch (spec.datatype) {
    case "FP32":
      return floats();
    case "FP64":
      return Float64Array.from(floats());
    case "FP16":
      return floatsToHalves(floats());
    case "BOOL":
      return Uint8Array.from({ length }, () => (random() < 0.5 ? 0 : 1));
    case "INT8":
      return Int8Array.from(ints());
    case "UINT8":
      return Uint8Array.from(ints());
    case "INT16":
      return Int16Array.from(ints());
    case "UINT16":
      return Uint16Array.from(ints());
    case "INT32":
      return Int32Array.from(ints());
    case "UINT32":
      return Uint32Array.from(ints());
    case "INT64":
      return BigInt64Array.from(ints(), BigInt);
    case "UINT64":
      return BigUint64Array.from(ints(), BigInt);
    case "BYTES":
      throw badRequest(`input '${spec.name}' holds strings (BYTES), which cannot be generated: send probe inputs instead`);
  }
}
