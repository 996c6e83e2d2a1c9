/**
 * @module Writes OIP v2 inference responses (JSON, or JSON plus binary tensor data) and, for
 * clients (tests, the benchmark, the edge->origin client), writes requests and reads responses.
 *
 * JSON choices, the same in both directions:
 * - INT64/UINT64 elements are JSON numbers when they are safe integers (|n| <= 2^53-1), otherwise
 *   decimal strings, since larger JSON numbers lose digits in most parsers; parseInferRequest and
 *   decodeInferResponse accept both forms.
 * - NaN, Infinity and -Infinity in FP16/FP32/FP64 outputs (a model may legitimately produce them)
 *   are the strings "NaN", "Infinity", "-Infinity", as in the proto3 JSON mapping used by OIP's
 *   gRPC form: lossless, unlike null. Requests cannot carry them in JSON; use binary.
 * - FP16/FP32/FP64 are written as their exact value (float32 0.1 is 0.10000000149011612, as
 *   Triton and numpy write it): lossless, and cheaper than searching for the shortest decimal.
 *   BOOL as true/false; BYTES as strings; -0 as 0 (binary keeps the sign).
 */
import { encodeBinaryTensor, joinBody, splitBody } from "./binary-tensor.ts";
import { badGateway, badRequest, HttpError } from "../errors.ts";
import { describeValue, tensorDataToJson } from "./json-tensor.ts";
import type { NonFiniteMode } from "./json-tensor.ts";
import { elementCount } from "./tensor.ts";
import type { InferRequest, InferResult, RequestedOutput, Tensor } from "./tensor.ts";
import { isObject, readTensors } from "./wire-tensors.ts";

export interface EncodedBody {
  body: Uint8Array;
  /** application/octet-stream when any tensor is binary, else application/json. */
  contentType: string;
  /** The Inference-Header-Content-Length value; undefined when nothing is binary. */
  headerLength: number | undefined;
}

/**
 * Encodes `result.outputs` (already filtered by the caller, in their order). An output goes to
 * the binary section when the request asked for it (its own binary flag, else binaryByDefault).
 *
 * @example
 * const { body, contentType, headerLength } = encodeInferResponse(
 *   { modelName: "mlp", modelVersion: "1", outputs: [{ name: "y", datatype: "FP32", shape: [1], data: new Float32Array([0.5]) }] },
 *   { outputs: [{ name: "y", binary: true }], binaryByDefault: false },
 * ); // contentType "application/octet-stream", body = JSON header + 4 bytes
 */
export function encodeInferResponse(result: InferResult, request: Pick<InferRequest, "outputs" | "binaryByDefault">): EncodedBody {
  const binaryOf = new Map(request.outputs.map((o) => [o.name, o.binary]));
  const chunks: Uint8Array[] = [];
  const outputs = result.outputs.map((tensor) => {
    const binary = binaryOf.get(tensor.name) ?? request.binaryByDefault;
    return encodeTensor(tensor, binary, chunks, "string", "output");
  });
  const header: Record<string, unknown> = { model_name: result.modelName, model_version: result.modelVersion };
  if (result.id !== undefined) header.id = result.id;
  header.outputs = outputs;
  return joinBody(header, chunks);
}

/** What encodeInferRequest needs: an InferRequest where everything but the inputs is optional. */
export interface InferRequestInit {
  id?: string;
  inputs: Tensor[];
  outputs?: RequestedOutput[];
  binaryByDefault?: boolean;
  parameters?: Record<string, unknown>;
}

/**
 * Client side: a request body with every input in JSON or every input in binary. Throws an Error
 * for NaN/Infinity in a JSON FP input, which JSON cannot carry (send those in binary).
 *
 * @example
 * const { body, headerLength } = encodeInferRequest({ inputs: [x], outputs: [{ name: "y", binary: true }] }, { binary: true });
 * await fetch(url, { method: "POST", body, headers: { "inference-header-content-length": String(headerLength) } });
 */
export function encodeInferRequest(request: InferRequestInit, options: { binary: boolean }): EncodedBody {
  const chunks: Uint8Array[] = [];
  const header: Record<string, unknown> = {};
  if (request.id !== undefined) header.id = request.id;
  const parameters: Record<string, unknown> = { ...request.parameters };
  if (request.binaryByDefault !== undefined) parameters.binary_data_output = request.binaryByDefault;
  if (Object.keys(parameters).length > 0) header.parameters = parameters;
  header.inputs = request.inputs.map((tensor) => encodeTensor(tensor, options.binary, chunks, "throw", "input"));
  if (request.outputs !== undefined && request.outputs.length > 0) {
    header.outputs = request.outputs.map((o) => ({ name: o.name, parameters: { binary_data: o.binary } }));
  }
  return joinBody(header, chunks);
}

/**
 * Client side: reads a response body back into tensors (JSON data into typed arrays as the
 * datatype says; INT64 strings, "NaN"/"Infinity" strings accepted). Throws a plain Error, not an
 * HttpError: a bad response is the server's fault, not the caller's.
 *
 * @example
 * const result = decodeInferResponse(new Uint8Array(await res.arrayBuffer()),
 *   res.headers.has("inference-header-content-length") ? Number(res.headers.get("inference-header-content-length")) : undefined);
 */
export function decodeInferResponse(body: Uint8Array, headerLength: number | undefined): InferResult {
  try {
    const { header, binary } = splitBody(body, headerLength, "response");
    if (!isObject(header)) throw badRequest(`the body must be a JSON object, got ${describeValue(header)}`);
    if (typeof header.error === "string") throw badGateway(`the server answered with an error: ${header.error}`);
    const { model_name: modelName, model_version: modelVersion, id, outputs } = header;
    if (!Array.isArray(outputs)) throw badRequest(`outputs must be an array, got ${describeValue(outputs)}`);
    const result: InferResult = {
      modelName: typeof modelName === "string" ? modelName : "",
      modelVersion: typeof modelVersion === "string" ? modelVersion : "",
      outputs: readTensors(outputs, binary, headerLength, {
        kind: "output",
        what: "response",
        // Sizes were the server's choice; lengths are still checked before anything is allocated.
        maxTensorElements: Infinity,
        nonFiniteStrings: true,
      }),
    };
    if (typeof id === "string") result.id = id;
    return result;
  } catch (error) {
    // Whatever is wrong with an answer is the answering server's fault, not our caller's.
    if (error instanceof HttpError && error.status !== 502) throw badGateway(`invalid inference response: ${error.message}`);
    throw error;
  }
}

/** One tensor's JSON entry; its bytes go to `chunks` when binary. */
function encodeTensor(tensor: Tensor, binary: boolean, chunks: Uint8Array[], nonFinite: NonFiniteMode, kind: string): Record<string, unknown> {
  const { name, datatype, shape, data } = tensor;
  // A mismatch here is our bug (or the model's), never the client's: a 500.
  const count = elementCount(shape);
  if (data.length !== count) throw new HttpError(500, `${kind} '${name}' has ${data.length} elements, but shape [${shape.join(",")}] needs ${count}`);
  if (binary) {
    const bytes = encodeBinaryTensor(datatype, data);
    chunks.push(bytes);
    return { name, datatype, shape, parameters: { binary_data_size: bytes.byteLength } };
  }
  try {
    return { name, datatype, shape, data: tensorDataToJson(datatype, data, nonFinite) };
  } catch (error) {
    const cause = HttpError.from(error);
    throw new HttpError(cause.status, `${kind} '${name}': ${cause.message}`);
  }
}
