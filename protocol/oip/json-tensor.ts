/**
 * @module Tensor data in OIP JSON: flat or nested `data` arrays <-> typed arrays, with exact
 * range checks on the way in and lossless number formatting on the way out.
 */
import { badRequest } from "../errors.ts";
import { floatToHalf, HALF_OVERFLOW_THRESHOLD, halfToFloat } from "./fp16.ts";
import type { OipDatatype, TensorData } from "./tensor.ts";

/** How JSON spells non-finite floats where they are allowed (the proto3 JSON mapping's strings). */
const NON_FINITE_STRINGS = new Map<unknown, number>([
  ["NaN", Number.NaN],
  ["Infinity", Infinity],
  ["-Infinity", -Infinity],
]);

/** Integer datatypes that fit a JS number, with their inclusive ranges. */
const INT_RANGES = {
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
} as const;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A short description of a JSON value for error messages. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  // JSON writes a number it cannot hold (1e400 parsed to Infinity) as null: say what it is.
  const text = typeof value === "number" && !Number.isFinite(value) ? String(value) : (JSON.stringify(value) ?? String(value));
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/**
 * The row-major flat elements of `data`, which is either flat (exactly `count` elements) or nested
 * to exactly `shape`. Throws 400 naming `where` (e.g. "input 'x'") and the offending position.
 *
 * @example
 * flattenData([[1, 2], [3, 4]], [2, 2], 4, "input 'x'") // [1, 2, 3, 4]
 */
export function flattenData(data: unknown, shape: readonly number[], count: number, where: string): unknown[] {
  if (!Array.isArray(data)) throw badRequest(`${where}: data must be an array, got ${describeValue(data)}`);
  if (shape.length < 2 || !Array.isArray(data[0])) {
    if (data.length !== count) {
      throw badRequest(`${where}: shape ${formatShape(shape)} needs ${count} elements, got ${data.length}`);
    }
    return data;
  }
  const out: unknown[] = [];
  const walk = (node: unknown, depth: number, path: string): void => {
    const dim = shape[depth] as number;
    if (!Array.isArray(node) || node.length !== dim) {
      const got = Array.isArray(node) ? `${node.length} elements` : describeValue(node);
      throw badRequest(`${where}: nested data${path} must have ${dim} elements to match shape ${formatShape(shape)}, got ${got}`);
    }
    if (depth === shape.length - 1) {
      for (let i = 0; i < node.length; i++) {
        if (Array.isArray(node[i])) throw badRequest(`${where}: nested data${path}[${i}] is nested deeper than shape ${formatShape(shape)}`);
        out.push(node[i]);
      }
      return;
    }
    for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${path}[${i}]`);
  };
  walk(data, 0, "");
  return out;
}

export interface JsonDecodeOptions {
  /** Accept "NaN", "Infinity", "-Infinity" for FP types (responses); requests reject them. */
  nonFiniteStrings: boolean;
}

/**
 * Converts flat JSON elements into the typed storage for `datatype`, checking every element's
 * type and range. Throws 400 naming `where` and the flat index.
 *
 * @example
 * jsonToTensorData("INT64", [1, "9007199254740993"], "input 'ids'", { nonFiniteStrings: false })
 * // BigInt64Array [1n, 9007199254740993n]
 */
export function jsonToTensorData(datatype: OipDatatype, values: readonly unknown[], where: string, options: JsonDecodeOptions): TensorData {
  const fail = (i: number, expected: string): never => {
    throw badRequest(`${where}: data[${i}] must be ${expected}, got ${describeValue(values[i])}`);
  };
  const float = (i: number): number => {
    const v = values[i];
    if (typeof v === "number") {
      // JSON.parse turns 1e400 into Infinity: out of range for every FP type, so refused here.
      if (!Number.isFinite(v) && !options.nonFiniteStrings) fail(i, `a number within the ${datatype} range`);
      return v;
    }
    const special = options.nonFiniteStrings ? NON_FINITE_STRINGS.get(v) : undefined;
    if (special !== undefined) return special;
    return fail(i, `a ${datatype} number`);
  };
  const n = values.length;
  switch (datatype) {
    case "BOOL": {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        out[i] = v === true ? 1 : v === false ? 0 : fail(i, "true or false");
      }
      return out;
    }
    case "UINT8":
    case "UINT16":
    case "UINT32":
    case "INT8":
    case "INT16":
    case "INT32": {
      const [min, max] = INT_RANGES[datatype];
      const out =
        datatype === "UINT8"
          ? new Uint8Array(n)
          : datatype === "UINT16"
            ? new Uint16Array(n)
            : datatype === "UINT32"
              ? new Uint32Array(n)
              : datatype === "INT8"
                ? new Int8Array(n)
                : datatype === "INT16"
                  ? new Int16Array(n)
                  : new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail(i, `an integer in ${min}..${max}`);
        out[i] = v as number;
      }
      return out;
    }
    case "INT64":
    case "UINT64": {
      const unsigned = datatype === "UINT64";
      const [min, max] = unsigned ? [0n, UINT64_MAX] : [INT64_MIN, INT64_MAX];
      const expected = `${unsigned ? "a non-negative" : "an"} integer (a safe integer number, or a decimal string for larger magnitudes) in ${min}..${max}`;
      const out = unsigned ? new BigUint64Array(n) : new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        let big: bigint | undefined;
        // Numbers beyond 2^53 have already lost digits in JSON.parse, so they are refused rather
        // than silently rounded; such values must come as decimal strings.
        if (typeof v === "number" && Number.isSafeInteger(v)) big = BigInt(v);
        else if (typeof v === "string" && /^-?\d{1,20}$/.test(v)) big = BigInt(v);
        if (big === undefined || big < min || big > max) fail(i, expected);
        out[i] = big as bigint;
      }
      return out;
    }
    case "FP16": {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const v = float(i);
        if (Number.isFinite(v) && Math.abs(v) >= HALF_OVERFLOW_THRESHOLD) fail(i, "a number within the FP16 range (|x| <= 65504)");
        out[i] = floatToHalf(v);
      }
      return out;
    }
    case "FP32": {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const v = float(i);
        const rounded = Math.fround(v);
        if (Number.isFinite(v) && !Number.isFinite(rounded)) fail(i, "a number within the FP32 range (|x| <= 3.4028234663852886e38)");
        out[i] = rounded;
      }
      return out;
    }
    case "FP64": {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = float(i);
      return out;
    }
    case "BYTES": {
      const out: string[] = new Array<string>(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        out[i] = typeof v === "string" ? v : fail(i, "a string");
      }
      return out;
    }
  }
}

/** How tensorDataToJson writes NaN and ±Infinity, which JSON numbers cannot express. */
export type NonFiniteMode = "string" | "throw";

/**
 * Flat JSON elements for a tensor: BOOL as true/false; INT64/UINT64 as numbers when they are safe
 * integers, else as decimal strings (JSON numbers past 2^53 lose digits in most parsers);
 * FP16/FP32/FP64 as the exact value in JavaScript's shortest double form (float32 0.1 is written
 * 0.10000000149011612, as Triton and numpy do): lossless and the fastest, where searching for the
 * shortest float32 decimal cost about 3x the CPU per element, measured; NaN/±Infinity as the
 * strings "NaN", "Infinity", "-Infinity" (mode "string", as the proto3 JSON mapping that OIP's
 * gRPC form uses) or an Error (mode "throw"). -0 is written as 0, as JSON.stringify does.
 *
 * @example
 * tensorDataToJson("FP32", new Float32Array([0.5, NaN]), "string") // [0.5, "NaN"]
 */
export function tensorDataToJson(datatype: OipDatatype, data: TensorData, nonFinite: NonFiniteMode): unknown[] {
  if (Array.isArray(data)) return data.slice();
  switch (datatype) {
    case "BOOL":
      return Array.from(data as Uint8Array, (v) => v !== 0);
    case "INT64":
    case "UINT64":
      return Array.from(data as BigInt64Array | BigUint64Array, (v: bigint) => (v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v.toString()));
    case "FP16":
      return floatsToJson(Array.from(data as Uint16Array, halfToFloat), datatype, nonFinite);
    case "FP32":
    case "FP64":
      return floatsToJson(Array.from(data as Float32Array | Float64Array), datatype, nonFinite);
    default:
      return Array.from(data as ArrayLike<number>);
  }
}

/** Replaces non-finite numbers in place; the common all-finite case costs one scan. */
function floatsToJson(values: (number | string)[], datatype: OipDatatype, nonFinite: NonFiniteMode): (number | string)[] {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isFinite(v)) continue;
    if (nonFinite === "throw") throw badRequest(`${datatype} value ${v} cannot be written as a JSON number; send this tensor in binary`);
    values[i] = Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  }
  return values;
}
