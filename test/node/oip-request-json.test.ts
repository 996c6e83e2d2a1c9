/** @module Tests of parseInferRequest on JSON bodies: round trips through encodeInferRequest, JSON tensor data of every datatype, and every refusal of a malformed request with its status and message. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import { binaryBody, everyDatatype, expectHttp, LIMITS, oneInput, parseJson, utf8 } from "./oip-request-helpers.ts";

describe("round trips through encodeInferRequest", () => {
  for (const binary of [false, true]) {
    it(`every datatype, ${binary ? "binary" : "JSON"}`, () => {
      const inputs = everyDatatype();
      const encoded = encodeInferRequest({ id: "r1", inputs, outputs: [{ name: "y", binary: true }], parameters: { priority: 2 } }, { binary });
      assert.equal(encoded.contentType, binary ? "application/octet-stream" : "application/json");
      assert.equal(encoded.headerLength === undefined, !binary);
      const parsed = parseInferRequest(encoded.body, encoded.headerLength, { maxTensorElements: 100, maxInputs: 64 });
      assert.deepEqual(parsed.inputs, inputs);
      assert.equal(parsed.id, "r1");
      assert.deepEqual(parsed.outputs, [{ name: "y", binary: true }]);
      assert.equal(parsed.parameters.priority, 2);
      assert.equal(parsed.binaryByDefault, false);
    });
  }

  it("binary_data_output sets the default, binary_data overrides it per output", () => {
    const encoded = encodeInferRequest(
      {
        inputs: [everyDatatype()[1]!],
        binaryByDefault: true,
        outputs: [
          { name: "a", binary: false },
          { name: "b", binary: true },
        ],
      },
      { binary: false },
    );
    const parsed = parseInferRequest(encoded.body, encoded.headerLength, LIMITS);
    assert.equal(parsed.binaryByDefault, true);
    assert.deepEqual(parsed.outputs, [
      { name: "a", binary: false },
      { name: "b", binary: true },
    ]);
    const raw = parseJson({
      parameters: { binary_data_output: true },
      inputs: [{ name: "x", datatype: "UINT8", shape: [1], data: [1] }],
      outputs: [{ name: "y" }],
    });
    assert.deepEqual(raw.outputs, [{ name: "y", binary: true }]);
  });

  it("defaults: no outputs, no id, empty parameters", () => {
    const parsed = parseJson(oneInput({ datatype: "FP32", shape: [1], data: [1] }));
    assert.deepEqual(parsed.outputs, []);
    assert.equal(parsed.id, undefined);
    assert.equal("id" in parsed, false);
    assert.deepEqual(parsed.parameters, {});
  });
});

describe("JSON data", () => {
  it("accepts nested data that matches the shape exactly", () => {
    const parsed = parseJson(
      oneInput({
        datatype: "INT32",
        shape: [2, 3],
        data: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      }),
    );
    assert.deepEqual(parsed.inputs[0]!.data, new Int32Array([1, 2, 3, 4, 5, 6]));
    const deep = parseJson(oneInput({ datatype: "BOOL", shape: [2, 1, 2], data: [[[true, false]], [[false, true]]] }));
    assert.deepEqual(deep.inputs[0]!.data, new Uint8Array([1, 0, 0, 1]));
  });

  it("refuses nested data that does not match the shape", () => {
    expectHttp(
      () =>
        parseJson(
          oneInput({
            datatype: "INT32",
            shape: [2, 3],
            data: [
              [1, 2, 3],
              [4, 5],
            ],
          }),
        ),
      400,
      "input 'x'",
      "data[1] must have 3 elements",
      "[2,3]",
    );
    expectHttp(
      () =>
        parseJson(
          oneInput({
            datatype: "INT32",
            shape: [2, 2, 2],
            data: [
              [1, 2, 3, 4],
              [5, 6, 7, 8],
            ],
          }),
        ),
      400,
      "data[0] must have 2 elements",
    );
    expectHttp(
      () =>
        parseJson(
          oneInput({
            datatype: "INT32",
            shape: [3, 2],
            data: [
              [1, 2],
              [3, 4],
            ],
          }),
        ),
      400,
      "nested data must have 3 elements to match shape [3,2], got 2 elements",
    );
    expectHttp(() => parseJson(oneInput({ datatype: "INT32", shape: [2, 1], data: [[[1]], [[2]]] })), 400, "nested data[0][0] is nested deeper");
    expectHttp(() => parseJson(oneInput({ datatype: "INT32", shape: [2], data: [[1], [2]] })), 400, "data[0] must be an integer", "an array");
  });

  it("refuses flat data of the wrong length", () => {
    expectHttp(() => parseJson(oneInput({ datatype: "FP32", shape: [2, 3], data: [1, 2, 3, 4, 5] })), 400, "input 'x': shape [2,3] needs 6 elements, got 5");
    expectHttp(() => parseJson(oneInput({ datatype: "FP32", shape: [0], data: [1] })), 400, "needs 0 elements, got 1");
    expectHttp(() => parseJson(oneInput({ datatype: "FP32", shape: [2], data: 5 })), 400, "data must be an array");
  });

  const bad: [string, unknown, string][] = [
    ["BOOL", 1, "data[1] must be true or false, got 1"],
    ["UINT8", 256, "data[1] must be an integer in 0..255, got 256"],
    ["UINT8", -1, "in 0..255, got -1"],
    ["UINT8", 1.5, "got 1.5"],
    ["UINT8", "1", `got "1"`],
    ["INT8", 128, "-128..127"],
    ["UINT16", 65536, "0..65535"],
    ["INT16", -32769, "-32768..32767"],
    ["UINT32", 4294967296, "0..4294967295"],
    ["INT32", 2147483648, "-2147483648..2147483647"],
    ["INT64", 2 ** 53, "decimal string"],
    ["INT64", "9223372036854775808", "-9223372036854775808..9223372036854775807"],
    ["INT64", "12a", "data[1]"],
    ["INT64", 1.5, "data[1]"],
    ["UINT64", "-1", "non-negative"],
    ["UINT64", "18446744073709551616", "0..18446744073709551615"],
    ["FP16", 65520, "FP16 range"],
    ["FP16", "NaN", `must be a FP16 number, got "NaN"`],
    ["FP32", 1e39, "FP32 range"],
    ["FP32", "NaN", `must be a FP32 number, got "NaN"`],
    ["FP32", true, "got true"],
    ["FP64", "Infinity", "FP64 number"],
    ["FP64", null, "got null"],
    ["BYTES", 5, "data[1] must be a string, got 5"],
  ];
  for (const [datatype, value, message] of bad) {
    it(`refuses ${JSON.stringify(value)} in ${datatype}`, () => {
      const good = datatype === "BOOL" ? true : datatype === "BYTES" ? "ok" : 1;
      expectHttp(() => parseJson(oneInput({ datatype, shape: [2], data: [good, value] })), 400, "input 'x'", message);
    });
  }

  it("refuses an object in data before the parse, in any datatype", () => {
    for (const datatype of ["BYTES", "FP32"]) {
      expectHttp(() => parseJson(oneInput({ datatype, shape: [2], data: ["ok", { a: 1 }] })), 400, "inputs[0].data holds an object");
    }
  });

  it("refuses 1e400, which JSON.parse turns into Infinity", () => {
    const body = utf8.encode('{"inputs":[{"name":"x","datatype":"FP64","shape":[1],"data":[1e400]}]}');
    expectHttp(() => parseInferRequest(body, undefined, LIMITS), 400, "data[0] must be a number within the FP64 range");
  });

  it("accepts the edges of each range, INT64 as strings, and rounds FP16 once, correctly", () => {
    const parsed = parseJson({
      inputs: [
        { name: "a", datatype: "INT64", shape: [3], data: ["-9223372036854775808", 9007199254740991, "9223372036854775807"] },
        { name: "b", datatype: "UINT64", shape: [1], data: ["18446744073709551615"] },
        // Just above the tie between 1 and the next half: float32 first would round it down.
        { name: "c", datatype: "FP16", shape: [3], data: [1.0004882812509095, 65519, 0.5] },
        { name: "d", datatype: "FP32", shape: [1], data: [3.4028234663852886e38] },
      ],
    });
    assert.deepEqual(parsed.inputs[0]!.data, new BigInt64Array([-(2n ** 63n), 9007199254740991n, 2n ** 63n - 1n]));
    assert.deepEqual(parsed.inputs[1]!.data, new BigUint64Array([2n ** 64n - 1n]));
    assert.deepEqual(parsed.inputs[2]!.data, new Uint16Array([0x3c01, 0x7bff, 0x3800]));
    assert.deepEqual(parsed.inputs[3]!.data, new Float32Array([3.4028234663852886e38]));
  });

  it("keeps the sign of -0 (JSON text -0)", () => {
    const body = utf8.encode('{"inputs":[{"name":"x","datatype":"FP16","shape":[1],"data":[-0]},{"name":"y","datatype":"FP32","shape":[1],"data":[-0.0]}]}');
    const parsed = parseInferRequest(body, undefined, LIMITS);
    assert.deepEqual(parsed.inputs[0]!.data, new Uint16Array([0x8000]));
    assert.ok(Object.is((parsed.inputs[1]!.data as Float32Array)[0], -0));
  });

  it("keeps multibyte UTF-8 strings intact", () => {
    const parsed = parseJson(oneInput({ datatype: "BYTES", shape: [2], data: ["日本語", "😀 é"] }));
    assert.deepEqual(parsed.inputs[0]!.data, ["日本語", "😀 é"]);
  });
});

describe("malformed requests", () => {
  it("refuses bodies that are not JSON objects", () => {
    expectHttp(() => parseInferRequest(utf8.encode('{"inputs": ['), undefined, LIMITS), 400, "request body is not valid JSON: ");
    expectHttp(() => parseInferRequest(new Uint8Array([0x7b, 0xff, 0x7d]), undefined, LIMITS), 400, "not valid JSON");
    expectHttp(() => parseInferRequest(new Uint8Array(0), undefined, LIMITS), 400, "not valid JSON");
    expectHttp(() => parseJson([1]), 400, "must be a JSON object, got an array");
    expectHttp(() => parseJson(null), 400, "must be a JSON object, got null");
  });

  const cases: [string, unknown, string][] = [
    ["no inputs", { id: "a" }, "inputs must be a non-empty array, got undefined"],
    ["empty inputs", { inputs: [] }, "inputs must be a non-empty array"],
    ["an input that is not an object", { inputs: [3] }, "inputs[0] must be an object, got 3"],
    ["no name", { inputs: [{ datatype: "FP32", shape: [1], data: [1] }] }, "inputs[0].name must be a non-empty string"],
    ["an unknown datatype", oneInput({ datatype: "FLOAT", shape: [1], data: [1] }), `input 'x': unknown datatype "FLOAT"; expected one of BOOL`],
    ["no datatype", oneInput({ shape: [1], data: [1] }), "unknown datatype undefined"],
    ["no shape", oneInput({ datatype: "FP32", data: [1] }), "input 'x': shape must be an array"],
    ["a negative dimension", oneInput({ datatype: "FP32", shape: [1, -1], data: [1] }), "shape[1] must be a non-negative integer, got -1"],
    ["a fractional dimension", oneInput({ datatype: "FP32", shape: [1.5], data: [1] }), "shape[0] must be a non-negative integer, got 1.5"],
    ["a string dimension", oneInput({ datatype: "FP32", shape: ["2"], data: [1, 2] }), `shape[0] must be a non-negative integer, got "2"`],
    ["too many dimensions", oneInput({ datatype: "FP32", shape: Array(65).fill(1), data: [1] }), "65 dimensions; at most 64"],
    ["no data", oneInput({ datatype: "FP32", shape: [1] }), "input 'x' has no data"],
    [
      "a duplicate input",
      {
        inputs: [
          { name: "x", datatype: "FP32", shape: [1], data: [1] },
          { name: "x", datatype: "FP32", shape: [1], data: [1] },
        ],
      },
      "input 'x' appears more than once",
    ],
    ["a non-string id", { id: 7, ...oneInput({ datatype: "FP32", shape: [1], data: [1] }) }, "id must be a string, got 7"],
    ["non-object parameters", { parameters: [], ...oneInput({ datatype: "FP32", shape: [1], data: [1] }) }, "parameters must be an object"],
    [
      "a non-boolean binary_data_output",
      { parameters: { binary_data_output: "yes" }, ...oneInput({ datatype: "FP32", shape: [1], data: [1] }) },
      "binary_data_output must be true or false",
    ],
    ["non-object input parameters", oneInput({ datatype: "FP32", shape: [1], data: [1], parameters: 1 }), "input 'x': parameters must be an object"],
    ["shared memory", oneInput({ datatype: "FP32", shape: [1], parameters: { shared_memory_region: "r" } }), "shared memory extension is not supported"],
    ["outputs not an array", { outputs: {}, ...oneInput({ datatype: "FP32", shape: [1], data: [1] }) }, "outputs must be an array"],
    ["an output without a name", { outputs: [{}], ...oneInput({ datatype: "FP32", shape: [1], data: [1] }) }, "outputs[0].name must be a non-empty string"],
    [
      "a duplicate output",
      { outputs: [{ name: "y" }, { name: "y" }], ...oneInput({ datatype: "FP32", shape: [1], data: [1] }) },
      "output 'y' is requested more than once",
    ],
    [
      "a non-boolean binary_data",
      { outputs: [{ name: "y", parameters: { binary_data: 1 } }], ...oneInput({ datatype: "FP32", shape: [1], data: [1] }) },
      "output 'y': parameters.binary_data must be true or false",
    ],
    [
      "classification",
      { outputs: [{ name: "y", parameters: { classification: 3 } }], ...oneInput({ datatype: "FP32", shape: [1], data: [1] }) },
      "classification extension is not supported",
    ],
  ];
  for (const [what, body, message] of cases) {
    it(`refuses ${what} with 400`, () => expectHttp(() => parseJson(body), 400, message));
  }

  it("refuses more inputs than maxInputs with 413", () => {
    const inputs = Array.from({ length: 9 }, (_, i) => ({ name: `x${i}`, datatype: "FP32", shape: [1], data: [1] }));
    expectHttp(() => parseJson({ inputs }), 413, "9 inputs; at most 8");
  });

  it("refuses huge shapes with 413 before looking at (or allocating) data", () => {
    const started = performance.now();
    expectHttp(
      () => parseJson(oneInput({ datatype: "FP32", shape: [1e9], data: [] })),
      413,
      "input 'x': shape [1000000000] has 1000000000 elements; the limit is 1000000",
    );
    expectHttp(() => parseJson(oneInput({ datatype: "BYTES", shape: [1e9, 1e9, 1e9, 1e9], data: [] })), 413, "limit");
    const header = { inputs: [{ name: "x", datatype: "FP64", shape: [100000000, 16], parameters: { binary_data_size: 12800000000 } }] };
    const { body, headerLength } = binaryBody(header, []);
    expectHttp(() => parseInferRequest(body, headerLength, LIMITS), 413, "elements");
    assert.ok(performance.now() - started < 200, "refusing huge shapes must be fast");
  });

  it("without an element limit, huge shapes still fail on length checks, not allocation", () => {
    const unlimited = { maxTensorElements: Number.MAX_SAFE_INTEGER, maxInputs: 8 };
    expectHttp(() => parseJson(oneInput({ datatype: "FP32", shape: [1e9], data: [] }), unlimited), 400, "needs 1000000000 elements, got 0");
    const strings = binaryBody({ inputs: [{ name: "s", datatype: "BYTES", shape: [1e9], parameters: { binary_data_size: 8 } }] }, [new Uint8Array(8)]);
    expectHttp(() => parseInferRequest(strings.body, strings.headerLength, unlimited), 400, "too short for 1000000000 BYTES elements");
    const floats = binaryBody({ inputs: [{ name: "f", datatype: "FP32", shape: [1e9], parameters: { binary_data_size: 4e9 } }] }, [new Uint8Array(8)]);
    expectHttp(() => parseInferRequest(floats.body, floats.headerLength, unlimited), 400, "truncated");
  });

  it("a shape whose element count overflows and then meets a zero holds 0 elements: a 400, not a RangeError", () => {
    const shape = [...new Array<number>(21).fill(Number.MAX_SAFE_INTEGER), 0];
    for (const datatype of ["BYTES", "FP32"]) {
      const { body, headerLength } = binaryBody({ inputs: [{ name: "x", datatype, shape, parameters: { binary_data_size: 4 } }] }, [new Uint8Array(4)]);
      expectHttp(() => parseInferRequest(body, headerLength, LIMITS), 400, "input 'x'");
    }
    const parsed = parseJson(oneInput({ datatype: "FP32", shape, data: [] }));
    assert.equal(parsed.inputs[0]!.data.length, 0);
  });

  it("names a dim JSON cannot hold as Infinity, not null", () => {
    const body = utf8.encode('{"inputs":[{"name":"x","datatype":"FP32","shape":[1e400],"data":[]}]}');
    expectHttp(() => parseInferRequest(body, undefined, LIMITS), 400, "shape[0] must be a non-negative integer, got Infinity");
  });

  it("refuses names longer than 1024 characters with a message that does not repeat them", () => {
    const long = "A".repeat(1 << 20);
    for (const value of [
      oneInput({ name: long, datatype: "FP32", shape: [1], data: [1] }),
      { ...oneInput({ datatype: "FP32", shape: [1], data: [1] }), outputs: [{ name: long }] },
    ]) {
      try {
        parseJson(value);
        assert.fail("accepted a 1 MiB name");
      } catch (error) {
        assert.equal((error as { status?: number }).status, 400);
        assert.match((error as Error).message, /name is 1048576 characters long; at most 1024 are taken$/);
        assert.ok((error as Error).message.length < 200);
      }
    }
    assert.equal(parseJson(oneInput({ name: "B".repeat(1024), datatype: "FP32", shape: [1], data: [1] })).inputs[0]!.name.length, 1024);
  });
});
