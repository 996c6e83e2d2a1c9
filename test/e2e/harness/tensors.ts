/**
 * @module Inputs and expected outputs for the end-to-end tests: seeded random rows, the answer
 * onnxruntime-node gives for the same model file and input (the reference every served answer
 * is held to), and the comparison.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import type { Tensor } from "../../../protocol/oip/tensor.ts";
import { mulberry32 } from "../../../scripts/models/mlp.ts";
import type { Reply } from "./http.ts";
import type { ModelFile } from "./models.ts";

/** Largest |served - onnxruntime-node| allowed: both run FP32 on the same bytes. */
export const TOLERANCE = 1e-4;

/** `count` rows of U(-1, 1) named `input`, the same for the same seed. */
export function rows(width: number, count: number, seed: number): Tensor {
  const random = mulberry32(seed);
  return { name: "input", datatype: "FP32", shape: [count, width], data: Float32Array.from({ length: count * width }, () => random() * 2 - 1) };
}

/** onnxruntime-node sessions, one per model file, kept for the file's tests and released in `after`. */
export class References {
  readonly #sessions = new Map<string, Promise<ort.InferenceSession>>();

  /** The `output` onnxruntime-node (CPU, one thread) computes for `input`. */
  async output(model: ModelFile, input: Tensor): Promise<Float32Array> {
    let session = this.#sessions.get(model.file);
    if (!session) {
      session = ort.InferenceSession.create(model.file, { intraOpNumThreads: 1 });
      this.#sessions.set(model.file, session);
    }
    const out = await (await session).run({ input: new ort.Tensor("float32", input.data as Float32Array, input.shape) });
    return out.output!.data as Float32Array;
  }

  async release(): Promise<void> {
    for (const session of this.#sessions.values()) await (await session.catch(() => undefined))?.release();
    this.#sessions.clear();
  }
}

export function maxDiff(actual: ArrayLike<number> | undefined, expected: ArrayLike<number>): number {
  assert.ok(actual, "no output");
  assert.equal(actual.length, expected.length, "output length");
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return worst;
}

/** A 200 whose output is onnxruntime-node's. */
export function assertServed(reply: Reply, expected: Float32Array): void {
  assert.equal(reply.status, 200, `${reply.status}: ${reply.error}`);
  const diff = maxDiff(reply.output, expected);
  assert.ok(diff <= TOLERANCE, `max |diff| ${diff} against onnxruntime-node`);
}
