/**
 * @module The pure parts of the accuracy guard: probe inputs made from a signature (deterministic
 * per seed, shaped by the batch axis), the signature check a variant must pass, and the error
 * measure (max absolute, relative to the output's range, top-1 agreement of class scores).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpError } from "../../protocol/errors.ts";
import { generateProbeInputs } from "../../protocol/probe-inputs.ts";
import { measureAccuracy, signatureMismatch } from "../../protocol/variant-accuracy.ts";
import type { Tensor, TensorSpec } from "../../protocol/oip/tensor.ts";

const MLP: { inputs: TensorSpec[]; outputs: TensorSpec[] } = {
  inputs: [{ name: "input", datatype: "FP32", shape: [-1, 16] }],
  outputs: [{ name: "output", datatype: "FP32", shape: [-1, 4] }],
};

describe("generateProbeInputs", () => {
  it("makes the same tensors from the same seed, other ones from another, with the batch axis set to the count", () => {
    const a = generateProbeInputs(MLP.inputs, { count: 5, seed: 7 });
    const b = generateProbeInputs(MLP.inputs, { count: 5, seed: 7 });
    const c = generateProbeInputs(MLP.inputs, { count: 5, seed: 8 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a[0]!.data, c[0]!.data);
    assert.deepEqual(a[0]!.shape, [5, 16]);
    assert.ok(Array.from(a[0]!.data as Float32Array).every((x) => x >= -1 && x < 1));
  });

  it("follows a batch axis that is not the first, sizes other dynamic dimensions, and refuses strings", () => {
    const [state, image] = generateProbeInputs(
      [
        { name: "state", datatype: "FP32", shape: [2, -1, 128] },
        { name: "image", datatype: "INT64", shape: [-1, 3, -1, -1] },
      ],
      { count: 3, batchAxes: { inputs: { state: 1, image: 0 }, outputs: {} }, dynamicDim: 8 },
    );
    assert.deepEqual(state!.shape, [2, 3, 128]);
    assert.deepEqual(image!.shape, [3, 3, 8, 8]);
    assert.ok(image!.data instanceof BigInt64Array);
    assert.throws(
      () => generateProbeInputs([{ name: "text", datatype: "BYTES", shape: [-1] }], { count: 1 }),
      (error: unknown) => error instanceof HttpError && error.status === 400,
    );
  });
});

describe("signatureMismatch", () => {
  it("accepts the same signature and a more general one, refuses other names, datatypes, ranks and narrower inputs", () => {
    assert.equal(signatureMismatch(MLP, MLP), undefined);
    assert.equal(signatureMismatch(MLP, { ...MLP, inputs: [{ name: "input", datatype: "FP32", shape: [-1, -1] }] }), undefined);
    assert.match(signatureMismatch(MLP, { ...MLP, inputs: [{ name: "x", datatype: "FP32", shape: [-1, 16] }] })!, /inputs are \[x\]/);
    assert.match(signatureMismatch(MLP, { ...MLP, inputs: [{ name: "input", datatype: "FP16", shape: [-1, 16] }] })!, /is FP16/);
    assert.match(signatureMismatch(MLP, { ...MLP, inputs: [{ name: "input", datatype: "FP32", shape: [1, 16] }] })!, /shape \[1, 16\]/);
    assert.match(signatureMismatch(MLP, { ...MLP, outputs: [{ name: "output", datatype: "FP32", shape: [-1, 4, 1] }] })!, /output 'output'/);
  });
});

describe("measureAccuracy", () => {
  const scores = (data: number[]): Tensor[] => [{ name: "output", datatype: "FP32", shape: [2, 3], data: Float32Array.from(data) }];

  it("reports the largest absolute error, that error over the output's largest magnitude, and top-1 agreement per row", () => {
    const reference = scores([1, 2, 3, 4, 0, 0]);
    const variant = scores([1, 2, 3.5, 0, 4.5, 0]);
    const accuracy = measureAccuracy(variant, reference, 2, "generated");
    assert.equal(accuracy.maxAbsError, 4.5);
    assert.equal(accuracy.maxRelError, 4.5 / 4);
    assert.equal(accuracy.top1Agreement, 0.5);
    assert.deepEqual(measureAccuracy(reference, reference, 2, "uploaded"), {
      probes: 2,
      source: "uploaded",
      maxAbsError: 0,
      maxRelError: 0,
      top1Agreement: 1,
    });
  });

  it("counts NaN as an unbounded error and leaves top-1 out when the output is not class scores", () => {
    const reference: Tensor[] = [{ name: "output", datatype: "FP32", shape: [4], data: Float32Array.from([1, 2, 3, 4]) }];
    const variant: Tensor[] = [{ name: "output", datatype: "FP32", shape: [4], data: Float32Array.from([1, NaN, 3, 4]) }];
    const accuracy = measureAccuracy(variant, reference, 1, "generated");
    assert.equal(accuracy.maxAbsError, Infinity);
    assert.equal(accuracy.top1Agreement, null);
  });
});
