/** @module Tests of encodeInferResponse / decodeInferResponse / encodeInferRequest: exact JSON, binary layout, round trips. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpError } from "../../protocol/errors.ts";
import { decodeInferResponse, encodeInferRequest, encodeInferResponse } from "../../protocol/oip/infer-response.ts";
import type { InferResult, Tensor } from "../../protocol/oip/tensor.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** One tensor per datatype, with edge values, including non-finite floats a model may produce. */
function everyDatatype(): Tensor[] {
  return [
    { name: "bool", datatype: "BOOL", shape: [3], data: new Uint8Array([1, 0, 1]) },
    { name: "u8", datatype: "UINT8", shape: [2], data: new Uint8Array([0, 255]) },
    { name: "u16", datatype: "UINT16", shape: [2], data: new Uint16Array([0, 65535]) },
    { name: "u32", datatype: "UINT32", shape: [2], data: new Uint32Array([0, 4294967295]) },
    { name: "u64", datatype: "UINT64", shape: [3], data: new BigUint64Array([0n, 2n ** 53n - 1n, 2n ** 64n - 1n]) },
    { name: "i8", datatype: "INT8", shape: [2], data: new Int8Array([-128, 127]) },
    { name: "i16", datatype: "INT16", shape: [2], data: new Int16Array([-32768, 32767]) },
    { name: "i32", datatype: "INT32", shape: [2], data: new Int32Array([-2147483648, 2147483647]) },
    { name: "i64", datatype: "INT64", shape: [2, 2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, -(2n ** 53n) + 1n, 0n]) },
    { name: "f16", datatype: "FP16", shape: [6], data: new Uint16Array([0x3c00, 0x3555, 0x0001, 0x7e00, 0x7c00, 0xfc00]) },
    { name: "f32", datatype: "FP32", shape: [2, 3], data: new Float32Array([0.1, -1.5, 3.4e38, 1e-45, Number.NaN, -Infinity]) },
    { name: "f64", datatype: "FP64", shape: [3], data: new Float64Array([Math.PI, -1e300, Infinity]) },
    { name: "text", datatype: "BYTES", shape: [3], data: ["hello", "héllo 日本 🎉", ""] },
  ];
}

const result = (outputs: Tensor[], id?: string): InferResult => ({ modelName: "m", modelVersion: "2", outputs, ...(id === undefined ? {} : { id }) });

function headerOf(body: Uint8Array, headerLength: number | undefined): Record<string, unknown> {
  return JSON.parse(text.decode(headerLength === undefined ? body : body.subarray(0, headerLength))) as Record<string, unknown>;
}

describe("encodeInferResponse, JSON", () => {
  it("writes the exact OIP JSON: flat data, safe INT64 as numbers, others as strings, non-finite as strings", () => {
    const encoded = encodeInferResponse(result(everyDatatype(), "req-1"), { outputs: [], binaryByDefault: false });
    assert.equal(encoded.contentType, "application/json");
    assert.equal(encoded.headerLength, undefined);
    const body = headerOf(encoded.body, undefined);
    assert.deepEqual(Object.keys(body), ["model_name", "model_version", "id", "outputs"]);
    assert.equal(body.model_name, "m");
    assert.equal(body.model_version, "2");
    assert.equal(body.id, "req-1");
    const data = Object.fromEntries((body.outputs as { name: string; data: unknown[] }[]).map((o) => [o.name, o.data]));
    assert.deepEqual(data.bool, [true, false, true]);
    assert.deepEqual(data.u64, [0, 9007199254740991, "18446744073709551615"]);
    assert.deepEqual(data.i64, ["-9223372036854775808", "9223372036854775807", -9007199254740991, 0]);
    assert.deepEqual(data.f16, [1, 0.333251953125, 2 ** -24, "NaN", "Infinity", "-Infinity"]);
    assert.deepEqual(data.f32, [0.10000000149011612, -1.5, 3.3999999521443642e38, 1.401298464324817e-45, "NaN", "-Infinity"]);
    assert.deepEqual(data.f64, [Math.PI, -1e300, "Infinity"]);
    assert.deepEqual(data.text, ["hello", "héllo 日本 🎉", ""]);
    assert.deepEqual((body.outputs as { shape: number[] }[])[10]!.shape, [2, 3]);
  });

  it("leaves out id when the result has none", () => {
    const encoded = encodeInferResponse(result([everyDatatype()[1]!]), { outputs: [], binaryByDefault: false });
    assert.equal("id" in headerOf(encoded.body, undefined), false);
  });

  it("writes FP32 exactly, so every value reads back to the same float", () => {
    const values = new Float32Array([0.1, 1 / 3, 16777217, 1.17549435e-38, 2 ** -149, -0.7]);
    const encoded = encodeInferResponse(result([{ name: "y", datatype: "FP32", shape: [6], data: values }]), { outputs: [], binaryByDefault: false });
    const json = text.decode(encoded.body);
    assert.ok(json.includes("[0.10000000149011612,0.3333333432674408,16777216,"), json);
    const written = (headerOf(encoded.body, undefined).outputs as { data: number[] }[])[0]!.data;
    assert.deepEqual(written, Array.from(values));
    assert.deepEqual(Float32Array.from(written), values);
  });

  it("encodes only the result's outputs, in the result's order", () => {
    const [a, b] = [everyDatatype()[1]!, everyDatatype()[2]!];
    const encoded = encodeInferResponse(result([b, a]), {
      outputs: [
        { name: "u8", binary: false },
        { name: "u16", binary: false },
        { name: "zzz", binary: true },
      ],
      binaryByDefault: false,
    });
    assert.deepEqual(
      (headerOf(encoded.body, undefined).outputs as { name: string }[]).map((o) => o.name),
      ["u16", "u8"],
    );
    assert.equal(encoded.contentType, "application/json");
  });

  it("refuses a tensor whose data does not fill its shape with a 500 (our bug, not the client's)", () => {
    const broken: Tensor = { name: "y", datatype: "FP32", shape: [2, 2], data: new Float32Array(3) };
    assert.throws(
      () => encodeInferResponse(result([broken]), { outputs: [], binaryByDefault: false }),
      (error: unknown) => {
        assert.ok(error instanceof HttpError && error.status === 500, String(error));
        assert.match(error.message, /output 'y' has 3 elements, but shape \[2,2\] needs 4/);
        return true;
      },
    );
  });
});

describe("encodeInferResponse, binary", () => {
  it("puts requested outputs in the binary section with binary_data_size, in order", () => {
    const f32 = new Float32Array([1.5, -2]);
    const strings = ["é", "ab"];
    const encoded = encodeInferResponse(
      result([
        { name: "a", datatype: "FP32", shape: [2], data: f32 },
        { name: "b", datatype: "INT32", shape: [1], data: new Int32Array([7]) },
        { name: "c", datatype: "BYTES", shape: [2], data: strings },
      ]),
      {
        outputs: [
          { name: "a", binary: true },
          { name: "b", binary: false },
          { name: "c", binary: true },
        ],
        binaryByDefault: false,
      },
    );
    assert.equal(encoded.contentType, "application/octet-stream");
    assert.ok(encoded.headerLength !== undefined);
    const header = headerOf(encoded.body, encoded.headerLength);
    assert.deepEqual(header.outputs, [
      { name: "a", datatype: "FP32", shape: [2], parameters: { binary_data_size: 8 } },
      { name: "b", datatype: "INT32", shape: [1], data: [7] },
      { name: "c", datatype: "BYTES", shape: [2], parameters: { binary_data_size: 4 + 2 + 4 + 2 } },
    ]);
    const tail = encoded.body.subarray(encoded.headerLength);
    assert.deepEqual([...tail], [...new Uint8Array(f32.buffer), 2, 0, 0, 0, 0xc3, 0xa9, 2, 0, 0, 0, 97, 98]);
  });

  it("uses binaryByDefault for outputs without their own flag", () => {
    const encoded = encodeInferResponse(result([everyDatatype()[1]!, everyDatatype()[2]!]), {
      outputs: [{ name: "u16", binary: false }],
      binaryByDefault: true,
    });
    const header = headerOf(encoded.body, encoded.headerLength);
    assert.deepEqual(
      (header.outputs as Record<string, unknown>[]).map((o) => "data" in o),
      [false, true],
    );
  });

  it("writes tensors that are views into a bigger buffer from their own bytes only", () => {
    const backing = new Float32Array([9, 1, 2, 9]);
    const view = backing.subarray(1, 3);
    const encoded = encodeInferResponse(result([{ name: "y", datatype: "FP32", shape: [2], data: view }]), { outputs: [], binaryByDefault: true });
    assert.deepEqual([...new Float32Array(encoded.body.slice(encoded.headerLength).buffer)], [1, 2]);
  });
});

describe("decodeInferResponse", () => {
  for (const binary of [false, true]) {
    it(`round-trips every datatype, ${binary ? "binary" : "JSON"}`, () => {
      const outputs = everyDatatype();
      const encoded = encodeInferResponse(result(outputs, "x"), { outputs: [], binaryByDefault: binary });
      assert.deepEqual(decodeInferResponse(encoded.body, encoded.headerLength), result(outputs, "x"));
    });
  }

  it("keeps -0 in binary, writes it as 0 in JSON", () => {
    const tensor: Tensor = { name: "z", datatype: "FP32", shape: [1], data: new Float32Array([-0]) };
    for (const binary of [true, false]) {
      const encoded = encodeInferResponse(result([tensor]), { outputs: [], binaryByDefault: binary });
      const value = (decodeInferResponse(encoded.body, encoded.headerLength).outputs[0]!.data as Float32Array)[0];
      assert.ok(Object.is(value, binary ? -0 : 0));
    }
  });

  it("reads nested JSON data and INT64 given either way", () => {
    const body = utf8.encode(
      JSON.stringify({
        model_name: "m",
        model_version: "1",
        outputs: [
          {
            name: "y",
            datatype: "INT64",
            shape: [2, 2],
            data: [
              [1, "9007199254740993"],
              [-3, "-4"],
            ],
          },
        ],
      }),
    );
    const decoded = decodeInferResponse(body, undefined);
    assert.deepEqual(decoded.outputs[0]!.data, new BigInt64Array([1n, 9007199254740993n, -3n, -4n]));
    assert.equal(decoded.id, undefined);
  });

  it("answers 502 for bad responses: the answering server's fault, never the caller's", () => {
    // A JSON header declaring 8 binary bytes, followed by only 4.
    const truncated = utf8.encode('{"outputs":[{"name":"y","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}xxxx');
    const cases: [Uint8Array, number | undefined, RegExp][] = [
      [utf8.encode("nope"), undefined, /invalid inference response: response body is not valid JSON/],
      [utf8.encode('{"error":"model exploded"}'), undefined, /the server answered with an error: model exploded/],
      [
        utf8.encode('{"outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":["toString"]}]}'),
        undefined,
        /output 'y': data\[0\] must be a FP32 number, got "toString"/,
      ],
      [utf8.encode('{"outputs":{}}'), undefined, /invalid inference response: outputs must be an array/],
      [
        truncated,
        truncated.byteLength - 4,
        /invalid inference response: binary data is truncated: the outputs declare 8 bytes after the JSON header, the response has 4/,
      ],
      [utf8.encode('{"outputs":[{"name":"y","datatype":"FP32","shape":[2],"data":[1]}]}'), undefined, /output 'y': shape \[2\] needs 2 elements, got 1/],
    ];
    for (const [body, headerLength, message] of cases) {
      assert.throws(
        () => decodeInferResponse(body, headerLength),
        (error: unknown) => {
          assert.ok(error instanceof HttpError && error.status === 502, String(error));
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });
});

describe("encodeInferRequest", () => {
  it("writes outputs, binary_data_output and caller parameters", () => {
    const encoded = encodeInferRequest(
      { id: "q", inputs: [everyDatatype()[1]!], outputs: [{ name: "y", binary: true }], binaryByDefault: false, parameters: { priority: 1, timeout: 5000 } },
      { binary: false },
    );
    assert.deepEqual(headerOf(encoded.body, encoded.headerLength), {
      id: "q",
      parameters: { priority: 1, timeout: 5000, binary_data_output: false },
      inputs: [{ name: "u8", datatype: "UINT8", shape: [2], data: [0, 255] }],
      outputs: [{ name: "y", parameters: { binary_data: true } }],
    });
  });

  it("refuses NaN in a JSON input, and sends it in binary", () => {
    const input: Tensor = { name: "x", datatype: "FP32", shape: [2], data: new Float32Array([1, Number.NaN]) };
    assert.throws(
      () => encodeInferRequest({ inputs: [input] }, { binary: false }),
      /input 'x': FP32 value NaN cannot be written as a JSON number; send this tensor in binary/,
    );
    const encoded = encodeInferRequest({ inputs: [input] }, { binary: true });
    assert.equal(headerOf(encoded.body, encoded.headerLength).inputs instanceof Array, true);
    assert.equal(encoded.body.byteLength - encoded.headerLength!, 8);
  });
});
