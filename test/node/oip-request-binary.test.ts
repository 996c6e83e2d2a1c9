/** @module Tests of parseInferRequest on the binary tensor data extension: binary and mixed inputs, alignment and copying, BYTES elements, and every refusal of a bad header length, size or payload. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import { inferenceHeaderLength } from "../../protocol/http/read-body.ts";
import { binaryBody, bytesOf, expectHttp, json, LIMITS, oneInput, utf8 } from "./oip-request-helpers.ts";

describe("binary tensor data", () => {
  const f32 = new Float32Array([1.5, -2, 3.25, 0]);
  const header = (size = 16, extra: Record<string, unknown> = {}) => ({
    inputs: [{ name: "x", datatype: "FP32", shape: [2, 2], parameters: { binary_data_size: size }, ...extra }],
  });

  it("reads a binary input", () => {
    const { body, headerLength } = binaryBody(header(), [bytesOf(f32)]);
    assert.deepEqual(parseInferRequest(body, headerLength, LIMITS).inputs[0]!.data, f32);
  });

  it("mixes JSON and binary inputs; binary ones take the bytes in order", () => {
    const ids = new BigInt64Array([5n, -(2n ** 40n)]);
    const { body, headerLength } = binaryBody(
      {
        inputs: [
          { name: "a", datatype: "FP32", shape: [4], parameters: { binary_data_size: 16 } },
          { name: "b", datatype: "UINT8", shape: [2], data: [1, 2] },
          { name: "c", datatype: "INT64", shape: [2], parameters: { binary_data_size: 16 } },
        ],
      },
      [bytesOf(f32), bytesOf(ids)],
    );
    const parsed = parseInferRequest(body, headerLength, LIMITS);
    assert.deepEqual(
      parsed.inputs.map((t) => t.data),
      [f32, new Uint8Array([1, 2]), ids],
    );
  });

  it("copies misaligned slices into fresh aligned buffers", () => {
    const i8 = new Int8Array([-1, 2, -3]);
    const f64 = new Float64Array([Math.E, -0.5]);
    const i64 = new BigInt64Array([-7n]);
    const h = {
      inputs: [
        { name: "a", datatype: "INT8", shape: [3], parameters: { binary_data_size: 3 } },
        { name: "b", datatype: "FP64", shape: [2], parameters: { binary_data_size: 16 } },
        { name: "c", datatype: "INT64", shape: [1], parameters: { binary_data_size: 8 } },
        { name: "d", datatype: "FP16", shape: [1], parameters: { binary_data_size: 2 } },
      ],
    };
    for (const pad of ["", " ", "  ", "   "]) {
      const built = binaryBody(h, [bytesOf(i8), bytesOf(f64), bytesOf(i64), bytesOf(new Uint16Array([0x3555]))], pad);
      // Also place the whole body at an odd offset inside a bigger buffer.
      const host = new Uint8Array(built.body.byteLength + 1);
      host.set(built.body, 1);
      const body = host.subarray(1);
      const parsed = parseInferRequest(body, built.headerLength, LIMITS);
      assert.deepEqual(
        parsed.inputs.map((t) => t.data),
        [i8, f64, i64, new Uint16Array([0x3555])],
      );
      for (const input of parsed.inputs) {
        const data = input.data as ArrayBufferView;
        assert.equal(data.byteOffset, 0);
        assert.notEqual(data.buffer, host.buffer, "tensors must not alias the body");
      }
      host.fill(0); // later changes to the body do not reach the tensors
      assert.deepEqual(parsed.inputs[1]!.data, f64);
    }
  });

  it("reads BYTES with multibyte UTF-8 and empty strings", () => {
    const strings = ["日本", "", "é😀"];
    const chunk = encodeInferRequest({ inputs: [{ name: "s", datatype: "BYTES", shape: [3], data: strings }] }, { binary: true });
    const parsed = parseInferRequest(chunk.body, chunk.headerLength, LIMITS);
    assert.deepEqual(parsed.inputs[0]!.data, strings);
    const head = JSON.parse(new TextDecoder().decode(chunk.body.subarray(0, chunk.headerLength))) as { inputs: { parameters: { binary_data_size: number } }[] };
    assert.equal(head.inputs[0]!.parameters.binary_data_size, 4 + 6 + 4 + 0 + 4 + 6);
  });

  const bytesCases: [string, number[], number, string][] = [
    ["a truncated length prefix", [3, 0, 0, 0, 97, 98, 99, 1, 0], 2, "element 1 is truncated"],
    ["an element longer than the data", [9, 0, 0, 0, 97, 98, 99, 0], 2, "element 0 declares 9 bytes, only 4 remain"],
    ["invalid UTF-8", [2, 0, 0, 0, 0xc3, 0x28, 0, 0, 0, 0], 2, "element 0 is not valid UTF-8"],
    ["bytes after the last element", [1, 0, 0, 0, 97, 0, 0, 0, 0, 122], 2, "1 bytes after its 2 BYTES elements"],
    ["too few bytes for the prefixes", [0, 0, 0, 0], 2, "too short for 2 BYTES elements"],
  ];
  for (const [what, bytes, count, message] of bytesCases) {
    it(`refuses BYTES with ${what}`, () => {
      const { body, headerLength } = binaryBody(
        { inputs: [{ name: "s", datatype: "BYTES", shape: [count], parameters: { binary_data_size: bytes.length } }] },
        [new Uint8Array(bytes)],
      );
      expectHttp(() => parseInferRequest(body, headerLength, LIMITS), 400, "input 's'", message);
    });
  }

  it("refuses a header length past the body, or not an integer", () => {
    expectHttp(() => parseInferRequest(utf8.encode("{}"), 999, LIMITS), 400, "Inference-Header-Content-Length 999 exceeds the request body's 2 bytes");
    expectHttp(() => parseInferRequest(utf8.encode("{}"), -1, LIMITS), 400, "non-negative integer");
    expectHttp(() => parseInferRequest(utf8.encode("{}"), Number.NaN, LIMITS), 400, "non-negative integer");
  });

  it("reads Inference-Header-Content-Length as digits only", () => {
    const header = (value: string) => inferenceHeaderLength(new Request("http://hotpath.test/", { headers: { "inference-header-content-length": value } }));
    assert.equal(header("12"), 12);
    assert.equal(inferenceHeaderLength(new Request("http://hotpath.test/")), undefined);
    for (const value of ["", " ", "1e1", "0x10", "+3", "-1", "1.0", "99999999999999999999"]) {
      expectHttp(() => header(value), 400, "Inference-Header-Content-Length must be a non-negative integer");
    }
  });

  it("refuses binary_data_size without the header length", () => {
    const { body } = binaryBody(header(), [bytesOf(f32)]);
    expectHttp(() => parseInferRequest(body, undefined, LIMITS), 400, "not valid JSON");
    const jsonOnly = json(header());
    expectHttp(
      () => parseInferRequest(jsonOnly, undefined, LIMITS),
      400,
      "input 'x' has parameters.binary_data_size, but the request has no Inference-Header-Content-Length header",
    );
  });

  it("refuses a size that does not match datatype x elements", () => {
    const { body, headerLength } = binaryBody(header(12), [bytesOf(f32).subarray(0, 12)]);
    expectHttp(() => parseInferRequest(body, headerLength, LIMITS), 400, "input 'x': binary_data_size 12 does not match FP32 x 4 elements = 16 bytes");
  });

  it("refuses truncated payloads", () => {
    for (const keep of [0, 1, 15]) {
      const { body, headerLength } = binaryBody(header(), [bytesOf(f32).subarray(0, keep)]);
      expectHttp(
        () => parseInferRequest(body, headerLength, LIMITS),
        400,
        `binary data is truncated: the inputs declare 16 bytes after the JSON header, the request has ${keep}`,
      );
    }
  });

  it("refuses trailing bytes", () => {
    const { body, headerLength } = binaryBody(header(), [bytesOf(f32), new Uint8Array([9])]);
    expectHttp(() => parseInferRequest(body, headerLength, LIMITS), 400, "1 bytes after the JSON header and binary data that no input declares");
    const jsonWithTail = binaryBody(oneInput({ datatype: "FP32", shape: [1], data: [1] }), [new Uint8Array(3)]);
    expectHttp(() => parseInferRequest(jsonWithTail.body, jsonWithTail.headerLength, LIMITS), 400, "3 bytes after");
  });

  it("accepts a header length equal to the body with no binary inputs", () => {
    const body = json(oneInput({ datatype: "FP32", shape: [1], data: [1] }));
    assert.equal(parseInferRequest(body, body.byteLength, LIMITS).inputs.length, 1);
  });

  it("refuses data and binary_data_size together, and bad sizes", () => {
    const both = binaryBody(header(16, { data: [1, 2, 3, 4] }), [bytesOf(f32)]);
    expectHttp(() => parseInferRequest(both.body, both.headerLength, LIMITS), 400, "input 'x' has both data and parameters.binary_data_size");
    for (const size of [-1, 1.5, "16"]) {
      const bad = binaryBody({ inputs: [{ name: "x", datatype: "FP32", shape: [4], parameters: { binary_data_size: size } }] }, [bytesOf(f32)]);
      expectHttp(() => parseInferRequest(bad.body, bad.headerLength, LIMITS), 400, "binary_data_size must be a non-negative integer");
    }
  });

  it("refuses BOOL bytes other than 0 and 1", () => {
    const { body, headerLength } = binaryBody({ inputs: [{ name: "b", datatype: "BOOL", shape: [3], parameters: { binary_data_size: 3 } }] }, [
      new Uint8Array([1, 0, 2]),
    ]);
    expectHttp(() => parseInferRequest(body, headerLength, LIMITS), 400, "input 'b': binary BOOL element 2 is 2");
  });

  it("keeps NaN from binary FP inputs (tensor-check decides about it)", () => {
    const { body, headerLength } = binaryBody(header(), [bytesOf(new Float32Array([Number.NaN, Infinity, 0, 1]))]);
    const data = parseInferRequest(body, headerLength, LIMITS).inputs[0]!.data as Float32Array;
    assert.ok(Number.isNaN(data[0]));
    assert.equal(data[1], Infinity);
  });
});
