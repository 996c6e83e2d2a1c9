/**
 * @module How far a quantised model's outputs are from the original's on the same probe inputs:
 * per output the largest absolute difference, that difference relative to the original's largest
 * magnitude, and for outputs that look like class scores how often the top-1 class agrees.
 *
 * Relative error is the max absolute error over the reference's max |value|, not a per-element
 * ratio: a per-element ratio is unbounded wherever the reference crosses zero (every Relu network
 * has such elements), so it would report noise rather than accuracy.
 */
import type { SignatureEntry } from "./onnx-graph.ts";

export interface OutputValues {
  name: string;
  /** The shape of the output for one probe. */
  shape: readonly number[];
  values: ArrayLike<number>;
}

export interface OutputError {
  name: string;
  maxAbsolute: number;
  maxRelative: number;
  /** Share of rows whose argmax agrees, in [0, 1]; only for outputs that look like class scores. */
  top1Agreement?: number;
  /** Rows compared for top1Agreement. */
  rows?: number;
}

const FLOAT_TYPES = new Set(["FP16", "FP32", "FP64"]);

/**
 * Class scores: a float output of rank 2 ([batch, classes]) or 3 ([batch, steps, classes], e.g. CTC
 * text recognition) with a fixed class axis of at least two. Maps ([N, 1, H, W]) and state tensors
 * (dynamic last axis) are not.
 */
export function looksLikeClassScores(spec: SignatureEntry): boolean {
  const classes = spec.shape.at(-1) ?? -1;
  return FLOAT_TYPES.has(spec.datatype) && (spec.shape.length === 2 || spec.shape.length === 3) && classes >= 2;
}

function argmax(values: ArrayLike<number>, from: number, length: number): number {
  let best = from;
  for (let i = from + 1; i < from + length; i++) if (values[i]! > values[best]!) best = i;
  return best - from;
}

/** Errors per output over all probes; `reference[p]` and `candidate[p]` are probe p's outputs, in `outputs` order. */
export function compareOutputs(outputs: readonly SignatureEntry[], reference: OutputValues[][], candidate: OutputValues[][]): OutputError[] {
  return outputs.map((spec, o) => {
    let maxAbsolute = 0;
    let maxReference = 0;
    let rows = 0;
    let agreeing = 0;
    const classScores = looksLikeClassScores(spec);
    reference.forEach((probe, p) => {
      const expected = probe[o]!;
      const actual = candidate[p]![o]!;
      if (expected.values.length !== actual.values.length) {
        throw new Error(`output ${spec.name}: the quantised model gives [${actual.shape.join(",")}], the original [${expected.shape.join(",")}]`);
      }
      for (let i = 0; i < expected.values.length; i++) {
        maxAbsolute = Math.max(maxAbsolute, Math.abs(expected.values[i]! - actual.values[i]!));
        maxReference = Math.max(maxReference, Math.abs(expected.values[i]!));
      }
      if (!classScores) return;
      const classes = expected.shape.at(-1)!;
      for (let row = 0; row < expected.values.length; row += classes) {
        rows++;
        if (argmax(expected.values, row, classes) === argmax(actual.values, row, classes)) agreeing++;
      }
    });
    const maxRelative = maxReference > 0 ? maxAbsolute / maxReference : maxAbsolute === 0 ? 0 : Infinity;
    return { name: spec.name, maxAbsolute, maxRelative, ...(classScores && rows > 0 ? { top1Agreement: agreeing / rows, rows } : {}) };
  });
}
