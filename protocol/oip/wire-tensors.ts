/**
 * @module Reads the tensor list of an OIP body (request inputs or response outputs): validates each
 * entry's name, datatype and shape, then takes its elements from JSON `data` or the binary section.
 */
import { decodeBinaryTensor, fixedBinarySize } from "./binary-tensor.ts";
import { badRequest, payloadTooLarge } from "../errors.ts";
import { describeValue, flattenData, formatShape, jsonToTensorData } from "./json-tensor.ts";
import type { JsonDecodeOptions } from "./json-tensor.ts";
import { OIP_DATATYPES, elementCount } from "./tensor.ts";
import type { OipDatatype, Tensor } from "./tensor.ts";

/** Deeper shapes are refused: no ONNX model needs them, and nested data is walked recursively. */
export const MAX_RANK = 64;
/** Longest input or output name taken: names are repeated in error messages, which must not grow with the request. */
export const MAX_NAME_LENGTH = 1024;

export interface ReadTensorsOptions extends JsonDecodeOptions {
  kind: "input" | "output";
  /** "request" or "response", for messages about the body as a whole. */
  what: "request" | "response";
  maxTensorElements: number;
  /** All tensors together (413 beyond); checked with the shapes, before any data is allocated. */
  maxTotalElements?: number;
}

interface Entry {
  where: string;
  name: string;
  datatype: OipDatatype;
  shape: number[];
  count: number;
  data: unknown;
  binarySize: number | undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Validates every entry first (so a huge shape fails with 413 before anything is allocated, and a
 * truncated binary section before any tensor is decoded), then materialises the tensors in order.
 *
 * @example
 * readTensors(header.inputs, binary, headerLength, { kind: "input", what: "request", maxTensorElements: 1e6, nonFiniteStrings: false })
 */
export function readTensors(list: unknown[], binary: Uint8Array, headerLength: number | undefined, options: ReadTensorsOptions): Tensor[] {
  const seen = new Set<string>();
  const entries = list.map((raw, index) => {
    const entry = readEntry(raw, index, options);
    if (seen.has(entry.name)) throw badRequest(`${options.kind} '${entry.name}' appears more than once`);
    seen.add(entry.name);
    return entry;
  });
  const total = entries.reduce((sum, entry) => sum + entry.count, 0);
  if (options.maxTotalElements !== undefined && total > options.maxTotalElements) {
    throw payloadTooLarge(
      `the ${options.kind}s have ${total} elements in all (${entries.map((e) => `'${e.name}' ${e.count}`).join(", ")}); the limit across a ${options.what}'s ${options.kind}s is ${options.maxTotalElements}`,
    );
  }

  let declared = 0;
  for (const entry of entries) {
    if (entry.binarySize === undefined) continue;
    if (headerLength === undefined) {
      throw badRequest(`${entry.where} has parameters.binary_data_size, but the ${options.what} has no Inference-Header-Content-Length header`);
    }
    const fixed = fixedBinarySize(entry.datatype, entry.count);
    if (fixed !== undefined && fixed !== entry.binarySize) {
      throw badRequest(`${entry.where}: binary_data_size ${entry.binarySize} does not match ${entry.datatype} x ${entry.count} elements = ${fixed} bytes`);
    }
    declared += entry.binarySize;
  }
  if (declared > binary.byteLength) {
    throw badRequest(
      `binary data is truncated: the ${options.kind}s declare ${declared} bytes after the JSON header, the ${options.what} has ${binary.byteLength}`,
    );
  }
  if (declared < binary.byteLength) {
    throw badRequest(
      `the ${options.what} has ${binary.byteLength - declared} bytes after the JSON header and binary data that no ${options.kind} declares (binary_data_size total ${declared})`,
    );
  }

  let offset = 0;
  return entries.map((entry): Tensor => {
    const { name, datatype, shape, where } = entry;
    if (entry.binarySize !== undefined) {
      const bytes = binary.subarray(offset, offset + entry.binarySize);
      offset += entry.binarySize;
      return { name, datatype, shape, data: decodeBinaryTensor(datatype, bytes, entry.count, where) };
    }
    const flat = flattenData(entry.data, shape, entry.count, where);
    return { name, datatype, shape, data: jsonToTensorData(datatype, flat, where, options) };
  });
}

function readEntry(raw: unknown, index: number, options: ReadTensorsOptions): Entry {
  const { kind } = options;
  if (!isObject(raw)) throw badRequest(`${kind}s[${index}] must be an object, got ${describeValue(raw)}`);
  const { name, datatype, shape, parameters } = raw;
  if (typeof name !== "string" || name === "") throw badRequest(`${kind}s[${index}].name must be a non-empty string, got ${describeValue(name)}`);
  if (name.length > MAX_NAME_LENGTH) throw badRequest(`${kind}s[${index}].name is ${name.length} characters long; at most ${MAX_NAME_LENGTH} are taken`);
  const where = `${kind} '${name}'`;
  if (typeof datatype !== "string" || !(OIP_DATATYPES as readonly string[]).includes(datatype)) {
    throw badRequest(`${where}: unknown datatype ${describeValue(datatype)}; expected one of ${OIP_DATATYPES.join(", ")}`);
  }
  if (!Array.isArray(shape)) throw badRequest(`${where}: shape must be an array of non-negative integers, got ${describeValue(shape)}`);
  if (shape.length > MAX_RANK) throw badRequest(`${where}: shape has ${shape.length} dimensions; at most ${MAX_RANK} are supported`);
  shape.forEach((dim: unknown, i) => {
    if (typeof dim !== "number" || !Number.isSafeInteger(dim) || dim < 0) {
      throw badRequest(`${where}: shape[${i}] must be a non-negative integer, got ${describeValue(dim)}`);
    }
  });
  const dims = shape as number[];
  const count = elementCount(dims);
  if (count > options.maxTensorElements) {
    throw payloadTooLarge(`${where}: shape ${formatShape(dims)} has ${count} elements; the limit is ${options.maxTensorElements}`);
  }
  let binarySize: number | undefined;
  if (parameters !== undefined) {
    if (!isObject(parameters)) throw badRequest(`${where}: parameters must be an object, got ${describeValue(parameters)}`);
    if (parameters.shared_memory_region !== undefined) throw badRequest(`${where}: the shared memory extension is not supported`);
    const size = parameters.binary_data_size;
    if (size !== undefined) {
      if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
        throw badRequest(`${where}: parameters.binary_data_size must be a non-negative integer, got ${describeValue(size)}`);
      }
      binarySize = size;
    }
  }
  if (binarySize !== undefined && raw.data !== undefined) {
    throw badRequest(`${where} has both data and parameters.binary_data_size; give one`);
  }
  if (binarySize === undefined && raw.data === undefined) {
    throw badRequest(`${where} has no data: give data, or parameters.binary_data_size with the bytes after the JSON header`);
  }
  return { where, name, datatype: datatype as OipDatatype, shape: dims, count, data: raw.data, binarySize };
}
