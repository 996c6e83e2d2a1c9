/** @module Tests of the caps that bound a request's memory: total elements across inputs, and JSON junk refused by the scan before JSON.parse builds it (protocol/oip/json-scan.ts). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_JSON_DEPTH, MAX_VALUES_OUTSIDE_DATA } from "../../protocol/oip/json-scan.ts";
import { expectHttp, json, LIMITS, parseJson } from "./oip-request-helpers.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { junkBodies } from "./junk-bodies.ts";

const input = (name: string, n: number, data = true) => ({
  name,
  datatype: "UINT8",
  shape: [n],
  ...(data ? { data: new Array<number>(n).fill(1) } : { parameters: { binary_data_size: n } }),
});

describe("elements across a request's inputs", () => {
  it("refuses inputs whose shapes together pass the limit with 413, each under it alone", () => {
    const limits = { maxTensorElements: 1000, maxInputs: 8 };
    // Binary inputs: the shapes alone must be refused, before the bytes are looked at.
    const header = json({ inputs: [input("a", 600, false), input("b", 600, false)] });
    const body = new Uint8Array(header.byteLength + 1200);
    body.set(header);
    expectHttp(
      () => parseInferRequest(body, header.byteLength, limits),
      413,
      "1200 elements in all",
      "'a' 600, 'b' 600",
      "the limit across a request's inputs is 1000",
    );
  });

  it("refuses JSON data values past the limit with 413 before the parse", () => {
    expectHttp(
      () => parseJson({ inputs: [input("a", 600), input("b", 600)] }, { maxTensorElements: 1000, maxInputs: 8 }),
      413,
      "hold more than 1000 data values",
    );
  });

  it("takes inputs that reach the limit exactly", () => {
    const parsed = parseJson({ inputs: [input("a", 500), input("b", 500)] }, { maxTensorElements: 1000, maxInputs: 8 });
    assert.equal(parsed.inputs.length, 2);
  });
});

describe("JSON junk is refused before JSON.parse", () => {
  const bodies = junkBodies();
  const expected: Record<string, [number, string]> = {
    "nested arrays [[[...]]]": [400, `nested more than ${MAX_JSON_DEPTH} levels deep`],
    'nested objects {"a":{"a":...}}': [400, `nested more than ${MAX_JSON_DEPTH} levels deep`],
    "a huge array of small objects": [413, `more than ${MAX_VALUES_OUTSIDE_DATA} values outside tensor data`],
    "data far longer than its shape [2]": [400, "inputs[0]: data holds 262145 values, far more than the 2 elements its shape declares"],
    "empty arrays in data under a shape of 10^12": [413, "the request's data nests more than 125000 arrays; send the data flat"],
    "empty arrays in data under a shape whose count is NaN": [413, "the request's data nests more than 125000 arrays"],
    "objects in data under its own shape": [400, "inputs[0].data holds an object; tensor data is numbers, booleans or strings"],
    "rows of one element under their own shape": [413, "the request's data nests more than 125000 arrays"],
  };
  for (const [name, body] of Object.entries(bodies)) {
    it(`refuses 1 MB of ${name}`, () => {
      const [status, message] = expected[name]!;
      const parse = JSON.parse;
      // The scan must refuse it: JSON.parse is never reached.
      JSON.parse = () => assert.fail("JSON.parse ran on junk");
      try {
        expectHttp(() => parseInferRequest(body, undefined, LIMITS), status, message);
      } finally {
        JSON.parse = parse;
      }
    });
  }

  it("still takes the deepest data a shape allows, and the widest outside data", () => {
    const shape = new Array<number>(64).fill(1);
    let data: unknown = [7];
    for (let i = 1; i < 64; i++) data = [data];
    const deep = parseJson({ inputs: [{ name: "x", datatype: "INT32", shape, data }] });
    assert.deepEqual(deep.inputs[0]!.data, new Int32Array([7]));
    const wide = Array.from({ length: 8 }, (_, i) => ({ name: `x${i}`, datatype: "UINT8", shape: new Array<number>(64).fill(1), data: [1] }));
    const outputs = Array.from({ length: 1000 }, (_, i) => ({ name: `y${i}`, parameters: { binary_data: true } }));
    assert.equal(parseJson({ inputs: wide, outputs, parameters: { priority: 1 } }).outputs.length, 1000);
  });

  it("takes nested rows of several elements, well under the cap on nested arrays", () => {
    const rows = Array.from({ length: 2000 }, () => [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(parseJson({ inputs: [{ name: "x", datatype: "FP32", shape: [2000, 8], data: rows }] }).inputs[0]!.data.length, 16_000);
  });

  it("leaves a small data mismatch to the check after the parse, which names the position", () => {
    expectHttp(() => parseJson({ inputs: [{ name: "x", datatype: "FP32", shape: [2], data: [1, 2, 3] }] }), 400, "needs 2 elements, got 3");
  });

  it("ignores brackets and keys inside strings", () => {
    const name = `${"[".repeat(200)}"data":${"{".repeat(200)}`;
    const parsed = parseJson({ id: "[[[{{{", inputs: [{ name, datatype: "BYTES", shape: [1], data: ['"shape":[1e9]]]]'] }] });
    assert.equal(parsed.inputs[0]!.name, name);
  });
});
