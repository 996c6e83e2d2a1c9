/** @module Shared helpers for the parseInferRequest tests (oip-request-*.test.ts): limits, every datatype's edge values, JSON and binary bodies, and the HttpError check. */
import assert from "node:assert/strict";
import { HttpError } from "../../protocol/errors.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";

export const LIMITS = { maxTensorElements: 1_000_000, maxInputs: 8 };
export const utf8 = new TextEncoder();

/** One tensor per datatype, with the edge values of each. */
export function everyDatatype(): Tensor[] {
  return [
    { name: "bool", datatype: "BOOL", shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
    { name: "u8", datatype: "UINT8", shape: [3], data: new Uint8Array([0, 255, 7]) },
    { name: "u16", datatype: "UINT16", shape: [2], data: new Uint16Array([0, 65535]) },
    { name: "u32", datatype: "UINT32", shape: [2], data: new Uint32Array([0, 4294967295]) },
    { name: "u64", datatype: "UINT64", shape: [3], data: new BigUint64Array([0n, 2n ** 53n - 1n, 2n ** 64n - 1n]) },
    { name: "i8", datatype: "INT8", shape: [2], data: new Int8Array([-128, 127]) },
    { name: "i16", datatype: "INT16", shape: [2], data: new Int16Array([-32768, 32767]) },
    { name: "i32", datatype: "INT32", shape: [2], data: new Int32Array([-2147483648, 2147483647]) },
    { name: "i64", datatype: "INT64", shape: [1, 3], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, -5n]) },
    { name: "f16", datatype: "FP16", shape: [4], data: new Uint16Array([0x3c00, 0x3555, 0x0001, 0xfbff]) },
    { name: "f32", datatype: "FP32", shape: [2, 2], data: new Float32Array([0.1, -1.5, 3.4e38, 1e-45]) },
    { name: "f64", datatype: "FP64", shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    { name: "text", datatype: "BYTES", shape: [3], data: ["hello", "héllo 日本 🎉", ""] },
    { name: "scalar", datatype: "INT64", shape: [], data: new BigInt64Array([16000n]) },
  ];
}

export const json = (value: unknown): Uint8Array => utf8.encode(JSON.stringify(value));
export const parseJson = (value: unknown, limits = LIMITS) => parseInferRequest(json(value), undefined, limits);
export const oneInput = (input: Record<string, unknown>) => ({ inputs: [{ name: "x", ...input }] });

export function expectHttp(run: () => unknown, status: number, ...fragments: string[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof HttpError, `expected an HttpError, got ${String(error)}`);
    assert.equal(error.status, status, error.message);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `'${error.message}' should contain '${fragment}'`);
    return true;
  });
}

/** A binary body: JSON header (optionally padded to shift offsets) followed by `chunks`. */
export function binaryBody(header: unknown, chunks: Uint8Array[], pad = ""): { body: Uint8Array; headerLength: number } {
  const head = utf8.encode(JSON.stringify(header) + pad);
  const body = new Uint8Array(head.byteLength + chunks.reduce((n, c) => n + c.byteLength, 0));
  body.set(head);
  let offset = head.byteLength;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { body, headerLength: head.byteLength };
}

export const bytesOf = (array: ArrayBufferView): Uint8Array => new Uint8Array(array.buffer, array.byteOffset, array.byteLength).slice();
