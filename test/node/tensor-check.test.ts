/** @module Tests of checkInputs and selectOutputs against the signatures of the demo models. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpError } from "../../protocol/errors.ts";
import { checkInputs, selectOutputs } from "../../protocol/oip/tensor-check.ts";
import type { Tensor, TensorSpec } from "../../protocol/oip/tensor.ts";

const MLP: TensorSpec[] = [{ name: "input", datatype: "FP32", shape: [-1, 16] }];
const VAD: TensorSpec[] = [
  { name: "input", datatype: "FP32", shape: [-1, -1] },
  { name: "state", datatype: "FP32", shape: [2, -1, 128] },
  { name: "sr", datatype: "INT64", shape: [] },
];
const VAD_OUT: TensorSpec[] = [
  { name: "output", datatype: "FP32", shape: [-1, 1] },
  { name: "stateN", datatype: "FP32", shape: [-1, -1, -1] },
];

const fp32 = (name: string, shape: number[], fill = 0.5): Tensor => ({
  name,
  datatype: "FP32",
  shape,
  data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill),
});
const vadInputs = (): Tensor[] => [
  fp32("input", [1, 576]),
  fp32("state", [2, 1, 128], 0),
  { name: "sr", datatype: "INT64", shape: [], data: new BigInt64Array([16000n]) },
];

function expect400(run: () => unknown, ...fragments: string[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof HttpError, String(error));
    assert.equal(error.status, 400, error.message);
    for (const fragment of fragments) assert.ok(error.message.includes(fragment), `'${error.message}' should contain '${fragment}'`);
    return true;
  });
}

/** checkInputs returns nothing: accepting is not throwing, and each acceptance below is set beside the refusal one step away. */
function expectAccepted(run: () => unknown): void {
  assert.equal(run(), undefined);
}

describe("checkInputs", () => {
  it("accepts a batch of exactly max_batch, and refuses one more row", () => {
    expectAccepted(() => checkInputs([fp32("input", [64, 16])], MLP, { maxBatch: 64 }));
    expect400(() => checkInputs([fp32("input", [65, 16])], MLP, { maxBatch: 64 }), "batch 65 exceeds the model's max_batch 64");
  });

  it("matches inputs by name, not by position: the reversed inputs pass, a renamed one does not", () => {
    expectAccepted(() => checkInputs(vadInputs().reverse(), VAD, { maxBatch: 1 }));
    const renamed = vadInputs().reverse();
    renamed[0] = { ...renamed[0]!, name: "rate" };
    expect400(() => checkInputs(renamed, VAD, { maxBatch: 1 }), "the model has no input 'rate'");
  });

  it("refuses undeclared inputs, naming the model's inputs", () => {
    expect400(() => checkInputs([fp32("x", [1, 16])], MLP, { maxBatch: 64, modelName: "mlp-tiny" }), "model 'mlp-tiny' has no input 'x'; its inputs are input");
    expect400(() => checkInputs([...vadInputs(), fp32("extra", [1])], VAD, { maxBatch: 1 }), "the model has no input 'extra'; its inputs are input, state, sr");
  });

  it("refuses missing inputs", () => {
    expect400(
      () => checkInputs(vadInputs().slice(0, 2), VAD, { maxBatch: 1, modelName: "silero-vad" }),
      "missing input 'sr'; model 'silero-vad''s inputs are input, state, sr",
    );
  });

  it("refuses the wrong datatype", () => {
    const ints: Tensor = { name: "input", datatype: "INT32", shape: [1, 16], data: new Int32Array(16) };
    expect400(() => checkInputs([ints], MLP, { maxBatch: 64 }), "input 'input' must be FP32, got INT32");
  });

  it("refuses the wrong rank, including [1] for a scalar", () => {
    expect400(() => checkInputs([fp32("input", [16])], MLP, { maxBatch: 64 }), "input 'input' must have 2 dimensions (shape [-1,16]), got 1 (shape [16])");
    const inputs = vadInputs();
    inputs[2] = { name: "sr", datatype: "INT64", shape: [1], data: new BigInt64Array([16000n]) };
    expect400(() => checkInputs(inputs, VAD, { maxBatch: 1 }), "input 'sr' must have 0 dimensions");
  });

  it("refuses a fixed dimension that differs", () => {
    expect400(() => checkInputs([fp32("input", [1, 8])], MLP, { maxBatch: 64 }), "input 'input': dimension 1 must be 16 (shape [-1,16]), got 8 (shape [1,8])");
    const inputs = vadInputs();
    inputs[1] = fp32("state", [2, 1, 64]);
    expect400(() => checkInputs(inputs, VAD, { maxBatch: 1 }), "input 'state': dimension 2 must be 128");
  });

  it("refuses a dynamic dimension of 0", () => {
    expect400(() => checkInputs([fp32("input", [0, 16])], MLP, { maxBatch: 64 }), "input 'input': dimension 0 is dynamic and must be at least 1, got 0");
  });

  it("refuses a batch over max_batch with 400", () => {
    expect400(() => checkInputs([fp32("input", [65, 16])], MLP, { maxBatch: 64 }), "input 'input': batch 65 exceeds the model's max_batch 64");
    const inputs = vadInputs();
    inputs[0] = fp32("input", [2, 576]);
    expect400(() => checkInputs(inputs, VAD, { maxBatch: 1 }), "batch 2 exceeds the model's max_batch 1");
  });

  it("does not treat a fixed or later dimension as the batch", () => {
    // The same size 3 over max_batch 1: allowed in state's dynamic dimension 1, refused in input's dimension 0.
    const laterDynamic = vadInputs();
    laterDynamic[1] = fp32("state", [2, 3, 128]);
    expectAccepted(() => checkInputs(laterDynamic, VAD, { maxBatch: 1 }));
    const firstDynamic = vadInputs();
    firstDynamic[0] = fp32("input", [3, 576]);
    expect400(() => checkInputs(firstDynamic, VAD, { maxBatch: 1 }), "input 'input': batch 3 exceeds the model's max_batch 1");

    // A fixed first dimension of 5 is the model's contract, not a batch; the same 5 in a dynamic one is.
    const x = [fp32("x", [5, 100])];
    expectAccepted(() => checkInputs(x, [{ name: "x", datatype: "FP32", shape: [5, -1] }], { maxBatch: 1 }));
    expect400(() => checkInputs(x, [{ name: "x", datatype: "FP32", shape: [-1, -1] }], { maxBatch: 1 }), "input 'x': batch 5 exceeds the model's max_batch 1");
  });

  it("refuses non-finite floats with the first bad index, unless allowed", () => {
    const nan = fp32("input", [2, 16]);
    (nan.data as Float32Array)[21] = Number.NaN;
    (nan.data as Float32Array)[30] = Infinity;
    expect400(() => checkInputs([nan], MLP, { maxBatch: 64 }), "input 'input': element 21 (index [1,5]) is NaN");
    expectAccepted(() => checkInputs([nan], MLP, { maxBatch: 64, allowNonFinite: true }));

    const f64: Tensor = { name: "x", datatype: "FP64", shape: [3], data: new Float64Array([0, 1, -Infinity]) };
    expect400(() => checkInputs([f64], [{ name: "x", datatype: "FP64", shape: [-1] }], { maxBatch: 8 }), "element 2 (index [2]) is -Infinity");

    const f16: Tensor = { name: "h", datatype: "FP16", shape: [2], data: new Uint16Array([0x3c00, 0x7c00]) };
    expect400(() => checkInputs([f16], [{ name: "h", datatype: "FP16", shape: [2] }], { maxBatch: 8 }), "element 1 (index [1]) is Infinity");
    const f16nan: Tensor = { name: "h", datatype: "FP16", shape: [1], data: new Uint16Array([0x7e01]) };
    expect400(() => checkInputs([f16nan], [{ name: "h", datatype: "FP16", shape: [1] }], { maxBatch: 8 }), "element 0 (index [0]) is NaN");
    const finiteHalf: Tensor = { name: "h", datatype: "FP16", shape: [2], data: new Uint16Array([0x7bff, 0xfbff]) };
    // The largest finite halves (+-65504) sit one step below the Infinity refused above.
    expectAccepted(() => checkInputs([finiteHalf], [{ name: "h", datatype: "FP16", shape: [2] }], { maxBatch: 8 }));
  });
});

describe("selectOutputs", () => {
  it("returns every declared output when none were requested, with the default binary flag", () => {
    assert.deepEqual(selectOutputs([], VAD_OUT), [
      { name: "output", binary: false },
      { name: "stateN", binary: false },
    ]);
    assert.deepEqual(selectOutputs([], VAD_OUT, true), [
      { name: "output", binary: true },
      { name: "stateN", binary: true },
    ]);
  });

  it("returns the requested outputs with their flags", () => {
    assert.deepEqual(selectOutputs([{ name: "stateN", binary: true }], VAD_OUT, false), [{ name: "stateN", binary: true }]);
  });

  it("refuses unknown outputs, naming the model's outputs", () => {
    expect400(
      () =>
        selectOutputs(
          [
            { name: "output", binary: false },
            { name: "logits", binary: false },
          ],
          VAD_OUT,
        ),
      "the model has no output 'logits'; its outputs are output, stateN",
    );
  });
});
