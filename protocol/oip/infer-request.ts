/**
 * @module Parses an OIP v2 inference request body (JSON, or JSON plus binary tensor data) into an
 * InferRequest, refusing every client mistake with a 400 (or 413 for sizes) that says what and where.
 */
import { splitBody } from "./binary-tensor.ts";
import { badRequest, payloadTooLarge } from "../errors.ts";
import { describeValue } from "./json-tensor.ts";
import type { InferRequest, RequestedOutput } from "./tensor.ts";
import { scanRequestJson, type ScannedData } from "./json-scan.ts";
import { isObject, MAX_NAME_LENGTH, readTensors } from "./wire-tensors.ts";

export interface InferRequestLimits {
  /**
   * Elements per request, all inputs together (so also per tensor): memory grows with the
   * request, not with one tensor. Checked against the shapes before any data is read or
   * allocated, and against the JSON data values before JSON.parse (413).
   */
  maxTensorElements: number;
  /** Inputs per request (413 beyond). */
  maxInputs: number;
  /**
   * Told, once the scan has counted a JSON body's data and before JSON.parse builds it, how many
   * bytes the parse and its tensors will hold (parsedBytes): the router counts them against the
   * isolate's body budget, as JSON takes up to ten times its bytes once parsed.
   */
  reserveParsed?: (bytes: number) => void;
}

/**
 * Bytes a data value holds once parsed, at most: its slot in JSON.parse's array (8: a double, or a
 * small integer with the array's growth copies) and in the typed array it becomes (4 for FP32 and
 * INT32; the 8-byte types are rare in JSON). A nested array costs about 64. Measured in Node: 4.2M
 * integers (an 8.4 MB body) held 84 MB just after the parse, much of it garbage a collection frees.
 */
const PARSED_BYTES_PER_VALUE = 12;
const PARSED_BYTES_PER_ARRAY = 64;

export const parsedBytes = (data: ScannedData): number => data.scalars * PARSED_BYTES_PER_VALUE + data.arrays * PARSED_BYTES_PER_ARRAY;

/**
 * Parses and validates a request body. `headerLength` is the Inference-Header-Content-Length
 * header (undefined: the body is pure JSON). Tensors come back with fresh, aligned storage;
 * whether they suit the model is tensor-check.ts's job.
 *
 * @example
 * const body = new TextEncoder().encode('{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1,2]}]}');
 * parseInferRequest(body, undefined, { maxTensorElements: 1 << 20, maxInputs: 64 });
 * // { inputs: [{ name: "x", datatype: "FP32", shape: [2], data: Float32Array [1, 2] }], outputs: [], binaryByDefault: false, parameters: {} }
 */
export function parseInferRequest(body: Uint8Array, headerLength: number | undefined, limits: InferRequestLimits): InferRequest {
  const { header, binary } = splitBody(body, headerLength, "request", (json) => {
    // Scanned whether or not the caller counts the parse: the scan is what refuses junk.
    const scanned = scanRequestJson(json, limits.maxTensorElements);
    limits.reserveParsed?.(parsedBytes(scanned));
  });
  if (!isObject(header)) throw badRequest(`the request body must be a JSON object, got ${describeValue(header)}`);

  const { id, inputs, outputs, parameters } = header;
  if (id !== undefined && typeof id !== "string") throw badRequest(`id must be a string, got ${describeValue(id)}`);
  if (parameters !== undefined && !isObject(parameters)) throw badRequest(`parameters must be an object, got ${describeValue(parameters)}`);
  const binaryOutput = parameters?.binary_data_output;
  if (binaryOutput !== undefined && typeof binaryOutput !== "boolean") {
    throw badRequest(`parameters.binary_data_output must be true or false, got ${describeValue(binaryOutput)}`);
  }
  const binaryByDefault = binaryOutput ?? false;

  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw badRequest(`inputs must be a non-empty array, got ${describeValue(inputs)}`);
  }
  if (inputs.length > limits.maxInputs) {
    throw payloadTooLarge(`the request has ${inputs.length} inputs; at most ${limits.maxInputs} are allowed`);
  }
  const tensors = readTensors(inputs, binary, headerLength, {
    kind: "input",
    what: "request",
    maxTensorElements: limits.maxTensorElements,
    maxTotalElements: limits.maxTensorElements,
    // JSON cannot express NaN/Infinity, and strings are not numbers: refused as the wrong type.
    nonFiniteStrings: false,
  });

  const request: InferRequest = {
    inputs: tensors,
    outputs: readRequestedOutputs(outputs, binaryByDefault),
    binaryByDefault,
    parameters: parameters ?? {},
  };
  if (id !== undefined) request.id = id;
  return request;
}

/** `outputs`: each `{name, parameters?: {binary_data?}}`; binary_data overrides binary_data_output. */
function readRequestedOutputs(outputs: unknown, binaryByDefault: boolean): RequestedOutput[] {
  if (outputs === undefined) return [];
  if (!Array.isArray(outputs)) throw badRequest(`outputs must be an array, got ${describeValue(outputs)}`);
  const seen = new Set<string>();
  return outputs.map((raw: unknown, index) => {
    if (!isObject(raw)) throw badRequest(`outputs[${index}] must be an object, got ${describeValue(raw)}`);
    const { name, parameters } = raw;
    if (typeof name !== "string" || name === "") throw badRequest(`outputs[${index}].name must be a non-empty string, got ${describeValue(name)}`);
    if (name.length > MAX_NAME_LENGTH) throw badRequest(`outputs[${index}].name is ${name.length} characters long; at most ${MAX_NAME_LENGTH} are taken`);
    if (seen.has(name)) throw badRequest(`output '${name}' is requested more than once`);
    seen.add(name);
    let binary = binaryByDefault;
    if (parameters !== undefined) {
      if (!isObject(parameters)) throw badRequest(`output '${name}': parameters must be an object, got ${describeValue(parameters)}`);
      if (parameters.binary_data !== undefined) {
        if (typeof parameters.binary_data !== "boolean") {
          throw badRequest(`output '${name}': parameters.binary_data must be true or false, got ${describeValue(parameters.binary_data)}`);
        }
        binary = parameters.binary_data;
      }
      // Unsupported extensions are refused rather than ignored, so a client never gets a
      // different answer than the one it asked for.
      if (parameters.classification !== undefined) throw badRequest(`output '${name}': the classification extension is not supported`);
      if (parameters.shared_memory_region !== undefined) throw badRequest(`output '${name}': the shared memory extension is not supported`);
    }
    return { name, binary };
  });
}
