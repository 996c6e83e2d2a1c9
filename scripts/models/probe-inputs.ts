/**
 * @module Probe inputs generated from a model's input signature with a seeded PRNG: the same
 * signature, count and seed give the same tensors in any runtime. Used by `hotpath models
 * quantize` to compare a quantised model with its original, and meant for the upload accuracy
 * guard in the Worker too, so it imports nothing and uses no Node or Worker API (the PRNG is in
 * ./prng.ts, equally plain). Its input and output types match protocol/oip/tensor.ts's TensorSpec
 * and Tensor structurally.
 *
 * Values: floats uniform on the grid k/1024 in [-1, 1), which every float type (FP16 included)
 * holds exactly, so a model and its fp16 copy see the very same numbers; integers uniform in
 * [0, 16) (small enough to be valid indices or token ids for most models); BOOL 0 or 1.
 * Dynamic dimensions (-1) become 1. String (BYTES) inputs have no meaningful random value and are
 * refused: such models need probes from the uploader.
 */
import { mulberry32 } from "./prng.ts";

export interface ProbeSpec<D extends string = string> {
  name: string;
  datatype: D;
  /** -1 marks a dynamic dimension. */
  shape: number[];
}

export type ProbeData =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array;

export interface ProbeTensor<D extends string = string> {
  name: string;
  datatype: D;
  shape: number[];
  data: ProbeData;
}

const GRID = 1024;
const INTEGER_RANGE = 16;

/** The exact half bits of k / 1024 for an integer |k| < 1024 (every such value is a normal half, or zero). */
export function gridHalf(k: number): number {
  if (k === 0) return 0;
  const sign = k < 0 ? 0x8000 : 0;
  const magnitude = Math.abs(k);
  const exponent = 31 - Math.clz32(magnitude); // floor(log2 |k|), 0..9
  return sign | ((exponent + 5) << 10) | ((magnitude << (10 - exponent)) & 0x3ff);
}

function fill(datatype: string, count: number, random: () => number): ProbeData {
  const gridStep = () => Math.floor(random() * 2 * GRID) - GRID; // k in [-1024, 1024)
  const integer = () => Math.floor(random() * INTEGER_RANGE);
  switch (datatype) {
    case "FP32":
      return Float32Array.from({ length: count }, () => gridStep() / GRID);
    case "FP64":
      return Float64Array.from({ length: count }, () => gridStep() / GRID);
    case "FP16":
      // -1024 / 1024 is -1 exactly: 0xbc00; the rest of the grid is below 1 in magnitude.
      return Uint16Array.from({ length: count }, () => {
        const k = gridStep();
        return k === -GRID ? 0xbc00 : gridHalf(k);
      });
    case "BOOL":
      return Uint8Array.from({ length: count }, () => (random() < 0.5 ? 0 : 1));
    case "UINT8":
      return Uint8Array.from({ length: count }, integer);
    case "INT8":
      return Int8Array.from({ length: count }, integer);
    case "UINT16":
      return Uint16Array.from({ length: count }, integer);
    case "INT16":
      return Int16Array.from({ length: count }, integer);
    case "UINT32":
      return Uint32Array.from({ length: count }, integer);
    case "INT32":
      return Int32Array.from({ length: count }, integer);
    case "INT64":
      return BigInt64Array.from({ length: count }, () => BigInt(integer()));
    case "UINT64":
      return BigUint64Array.from({ length: count }, () => BigInt(integer()));
    default:
      throw new Error(`cannot generate probe values for ${datatype} inputs: give probe inputs for this model`);
  }
}

/**
 * `count` probes for the inputs in `signature`, each a full set of input tensors. Probe p is drawn
 * from seed `seed + p`, input after input in signature order, so adding probes keeps the first ones.
 */
export function probeInputs<D extends string>(signature: readonly ProbeSpec<D>[], count: number, seed = 1): ProbeTensor<D>[][] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`probe count must be a whole number, 1 or more, got ${count}`);
  return Array.from({ length: count }, (_, probe) => {
    const random = mulberry32(seed + probe);
    return signature.map((spec) => {
      const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
      const count = shape.reduce((product, d) => product * d, 1);
      return { name: spec.name, datatype: spec.datatype, shape, data: fill(spec.datatype, count, random) };
    });
  });
}
