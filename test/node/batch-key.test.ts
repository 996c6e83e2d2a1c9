/** @module Which requests may share a run (protocol/batching.ts batchKey): same shapes off the batch axis, equal shared tensors, the same outputs. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { batchKey, batchSizeOf, type BatchAxes } from "../../protocol/batching.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";

const SILERO: BatchAxes = { inputs: { input: 0, state: 1, sr: null }, outputs: { output: 0, stateN: 1 } };
const frame = (rows: number, sr: bigint, samples = 576): Tensor[] => [
  { name: "sr", datatype: "INT64", shape: [], data: BigInt64Array.from([sr]) },
  { name: "input", datatype: "FP32", shape: [rows, samples], data: new Float32Array(rows * samples) },
  { name: "state", datatype: "FP32", shape: [2, rows, 128], data: new Float32Array(256 * rows) },
];
const OUT = ["output", "stateN"];

test("requests differing only in batch size share a key; another rate, frame length or output list does not", () => {
  const key = batchKey(frame(1, 16000n), SILERO, OUT);
  assert.ok(key);
  assert.equal(batchKey(frame(3, 16000n), SILERO, OUT), key);
  assert.equal(batchKey([...frame(1, 16000n)].reverse(), SILERO, OUT), key, "input order does not matter");
  assert.notEqual(batchKey(frame(1, 8000n), SILERO, OUT), key);
  assert.notEqual(batchKey(frame(1, 16000n, 512), SILERO, OUT), key);
  assert.notEqual(batchKey(frame(1, 16000n), SILERO, ["output"]), key);
  assert.equal(batchSizeOf(frame(3, 16000n), SILERO), 3);
});

test("shared BYTES values cannot run together by a separator inside them", () => {
  const axes: BatchAxes = { inputs: { x: 0, tag: null }, outputs: { y: 0 } };
  const x: Tensor = { name: "x", datatype: "FP32", shape: [1, 2], data: new Float32Array(2) };
  const tag = (values: string[]): Tensor => ({ name: "tag", datatype: "BYTES", shape: [values.length], data: values });
  assert.notEqual(batchKey([x, tag(["a,b"])], axes, ["y"]), batchKey([x, tag(["a", "b"])], axes, ["y"]));
  assert.equal(batchKey([x, tag(["a", "b"])], axes, ["y"]), batchKey([x, tag(["a", "b"])], axes, ["y"]));
});

test("shared numbers -0 and 0 are different values: they do not share a run", () => {
  const axes: BatchAxes = { inputs: { x: 0, scale: null }, outputs: { y: 0 } };
  const x: Tensor = { name: "x", datatype: "FP32", shape: [1, 2], data: new Float32Array(2) };
  const scale = (value: number): Tensor => ({ name: "scale", datatype: "FP32", shape: [1], data: Float32Array.of(value) });
  assert.notEqual(batchKey([x, scale(-0)], axes, ["y"]), batchKey([x, scale(0)], axes, ["y"]));
  assert.equal(batchKey([x, scale(0.5)], axes, ["y"]), batchKey([x, scale(0.5)], axes, ["y"]));
});

test("inputs that disagree on the batch size are refused, naming both", () => {
  const bad = frame(1, 16000n);
  bad[2] = { name: "state", datatype: "FP32", shape: [2, 5, 128], data: new Float32Array(1280) };
  assert.throws(() => batchSizeOf(bad, SILERO), /input 'input' \(axis 0 of shape \[1,576\]\) has 1, input 'state' \(axis 1 of shape \[2,5,128\]\) has 5/);
  assert.throws(() => batchSizeOf(frame(4, 16000n), SILERO, 2), /batch size 4 of input 'input' .* exceeds the model's max_batch 2/);
});
