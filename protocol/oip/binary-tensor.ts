/**
 * @module The binary tensor data extension (Triton's): a JSON header of Inference-Header-Content-Length
 * bytes, then each binary tensor's little-endian bytes in order; BYTES elements length-prefixed.
 */
import { concatBytes } from "../bytes.ts";
import { BYTES_PER_ELEMENT, typedArrayFor } from "./datatypes.ts";
import { badRequest, HttpError } from "../errors.ts";
import type { OipDatatype, TensorData } from "./tensor.ts";

// Typed arrays use the host's byte order and the wire is little-endian; every host hotpath runs on
// (workerd, Node on x64/arm64) is little-endian, so bytes are copied, never swapped.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
const utf8Encoder = new TextEncoder();

/**
 * Splits a body into its parsed JSON header and the binary section after it. `headerLength`
 * undefined means the whole body is JSON. Throws 400 for a bad length, bad UTF-8 or bad JSON.
 * `scan` sees the JSON bytes before JSON.parse, to refuse junk before it becomes objects.
 *
 * @example
 * const { header, binary } = splitBody(body, 118, "request");
 */
export function splitBody(
  body: Uint8Array,
  headerLength: number | undefined,
  what: "request" | "response",
  scan?: (json: Uint8Array) => void,
): { header: unknown; binary: Uint8Array } {
  let jsonBytes = body;
  let binary = body.subarray(body.byteLength);
  if (headerLength !== undefined) {
    if (!Number.isSafeInteger(headerLength) || headerLength < 0) {
      throw badRequest(`Inference-Header-Content-Length must be a non-negative integer, got ${headerLength}`);
    }
    if (headerLength > body.byteLength) {
      throw badRequest(`Inference-Header-Content-Length ${headerLength} exceeds the ${what} body's ${body.byteLength} bytes`);
    }
    jsonBytes = body.subarray(0, headerLength);
    binary = body.subarray(headerLength);
  }
  scan?.(jsonBytes);
  let header: unknown;
  try {
    header = JSON.parse(utf8Strict.decode(jsonBytes));
  } catch (error) {
    throw badRequest(`${what} body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { header, binary };
}

/** Bytes a fixed-size datatype takes for `count` elements; undefined for BYTES (variable). */
export function fixedBinarySize(datatype: OipDatatype, count: number): number | undefined {
  return datatype === "BYTES" ? undefined : count * BYTES_PER_ELEMENT[datatype];
}

/**
 * Decodes one tensor's binary bytes (a view into the body, not copied yet) into fresh storage.
 * The bytes are copied into a new buffer because typed arrays need element-aligned offsets and
 * a tensor's slice can start at any byte of the body. Throws 400 naming `where`.
 *
 * @example
 * decodeBinaryTensor("FP32", body.subarray(120, 184), 16, "input 'x'") // Float32Array(16)
 */
export function decodeBinaryTensor(datatype: OipDatatype, bytes: Uint8Array, count: number, where: string): TensorData {
  if (datatype === "BYTES") return decodeBinaryStrings(bytes, count, where);
  const expected = count * BYTES_PER_ELEMENT[datatype];
  if (bytes.byteLength !== expected) {
    throw badRequest(`${where}: binary data of ${bytes.byteLength} bytes does not match ${datatype} x ${count} elements = ${expected} bytes`);
  }
  if (!LITTLE_ENDIAN_HOST && BYTES_PER_ELEMENT[datatype] > 1) throw new HttpError(500, "binary tensors need a little-endian host");
  const copy = bytes.slice(); // fresh ArrayBuffer at offset 0: aligned for every element size
  if (datatype === "BOOL") {
    const bad = copy.findIndex((b) => b > 1);
    if (bad >= 0) throw badRequest(`${where}: binary BOOL element ${bad} is ${copy[bad]}; only 0 and 1 are valid`);
  }
  return typedArrayFor(datatype, copy.buffer);
}

/** BYTES: each element is a 4-byte little-endian length, then that many bytes of UTF-8. */
function decodeBinaryStrings(bytes: Uint8Array, count: number, where: string): string[] {
  // Checked before allocating so a huge shape with a small payload fails at once.
  if (count * 4 > bytes.byteLength) {
    throw badRequest(`${where}: binary data of ${bytes.byteLength} bytes is too short for ${count} BYTES elements (4-byte length prefix each)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<string>(count);
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset + 4 > bytes.byteLength) throw badRequest(`${where}: binary BYTES element ${i} is truncated (no length prefix)`);
    const length = view.getUint32(offset, true);
    offset += 4;
    if (offset + length > bytes.byteLength) {
      throw badRequest(`${where}: binary BYTES element ${i} declares ${length} bytes, only ${bytes.byteLength - offset} remain`);
    }
    try {
      out[i] = utf8Strict.decode(bytes.subarray(offset, offset + length));
    } catch {
      // hotpath carries BYTES as strings (onnxruntime's string tensors), so bytes must be text.
      throw badRequest(`${where}: binary BYTES element ${i} is not valid UTF-8`);
    }
    offset += length;
  }
  if (offset !== bytes.byteLength) {
    throw badRequest(`${where}: binary data has ${bytes.byteLength - offset} bytes after its ${count} BYTES elements`);
  }
  return out;
}

/**
 * A tensor's wire bytes: the typed array's own bytes (a view, not a copy; BOOL normalised to 0/1),
 * or for BYTES the length-prefixed UTF-8 of every string.
 *
 * @example
 * encodeBinaryTensor("BYTES", ["hé"]) // Uint8Array [3, 0, 0, 0, 0x68, 0xc3, 0xa9]
 */
export function encodeBinaryTensor(datatype: OipDatatype, data: TensorData): Uint8Array {
  if (Array.isArray(data)) {
    const encoded = data.map((s) => utf8Encoder.encode(s));
    const out = new Uint8Array(encoded.reduce((sum, e) => sum + 4 + e.byteLength, 0));
    const view = new DataView(out.buffer);
    let offset = 0;
    for (const e of encoded) {
      view.setUint32(offset, e.byteLength, true);
      out.set(e, offset + 4);
      offset += 4 + e.byteLength;
    }
    return out;
  }
  if (!LITTLE_ENDIAN_HOST && data.BYTES_PER_ELEMENT > 1) throw new HttpError(500, "binary tensors need a little-endian host");
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return datatype === "BOOL" ? bytes.map((b) => (b === 0 ? 0 : 1)) : bytes;
}

/**
 * One body: the JSON header, then the binary chunks in order. headerLength is undefined (and the
 * content type JSON) when there are no chunks, as the extension only applies with binary data.
 *
 * @example
 * const { body, headerLength } = joinBody({ outputs: [...] }, [chunk]);
 */
export function joinBody(header: unknown, chunks: readonly Uint8Array[]): { body: Uint8Array; contentType: string; headerLength: number | undefined } {
  const json = utf8Encoder.encode(JSON.stringify(header));
  if (chunks.length === 0) return { body: json, contentType: "application/json", headerLength: undefined };
  const body = concatBytes([json, ...chunks]);
  return { body, contentType: "application/octet-stream", headerLength: json.byteLength };
}
