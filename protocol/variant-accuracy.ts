/**
 * @module How a variant compares with its version's default bytes: whether its signature can stand
 * in for the default's (a request checked against the version's signature must run on it), and
 * the error of its outputs on the same probe inputs. Pure, so the edge's accuracy guard and the
 * command line's quantize report measure alike.
 */
import type { VariantAccuracy } from "./model-record.ts";
import { halfToFloat } from "./oip/fp16.ts";
import type { Tensor, TensorSpec } from "./oip/tensor.ts";

interface Signature {
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
}

/**
 * Why `variant` cannot serve requests made for `version`, or undefined when it can: the same
 * input and output names and datatypes, the same ranks; an input dimension the version leaves
 * dynamic must be dynamic in the variant too (it must take whatever the version takes), and
 * fixed output dimensions must agree.
 */
export function signatureMismatch(version: Signature, variant: Signature): string | undefined {
  return sideMismatch("input", version.inputs, variant.inputs, true) ?? sideMismatch("output", version.outputs, variant.outputs, false);
}

function sideMismatch(side: string, expected: readonly TensorSpec[], actual: readonly TensorSpec[], mustAcceptAll: boolean): string | undefined {
  const names = (specs: readonly TensorSpec[]) => specs.map((s) => s.name).sort();
  if (names(expected).join("\n") !== names(actual).join("\n")) {
    return `${side}s are [${names(actual).join(", ")}], the version's are [${names(expected).join(", ")}]`;
  }
  for (const want of expected) {
    const got = actual.find((s) => s.name === want.name)!;
    if (got.datatype !== want.datatype) return `${side} '${want.name}' is ${got.datatype}, the version's is ${want.datatype}`;
    const dimsAgree =
      got.shape.length === want.shape.length &&
      got.shape.every((dim, axis) => dim === want.shape[axis] || dim === -1 || (!mustAcceptAll && want.shape[axis] === -1));
    if (!dimsAgree) return `${side} '${want.name}' has shape [${got.shape.join(", ")}], the version's is [${want.shape.join(", ")}]`;
  }
  return undefined;
}

/** The error of `variant`'s outputs against `reference`'s (the default's) for the same inputs, output by output. */
export function measureAccuracy(variant: readonly Tensor[], reference: readonly Tensor[], probes: number, source: VariantAccuracy["source"]): VariantAccuracy {
  let maxAbsError = 0;
  let maxRelError = 0;
  let top1: number | null = null;
  for (const want of reference) {
    const got = variant.find((t) => t.name === want.name);
    if (!got || got.data.length !== want.data.length) throw new Error(`the variant's output '${want.name}' does not match the default's in size`);
    const expected = numbersOf(want);
    const actual = numbersOf(got);
    if (!expected || !actual) continue; // strings: no numeric error to measure
    let absError = 0;
    let magnitude = 0;
    for (let i = 0; i < expected.length; i++) {
      // NaN on either side is as far apart as values get.
      const difference = Math.abs(actual[i]! - expected[i]!);
      absError = Math.max(absError, Number.isNaN(difference) ? Infinity : difference);
      magnitude = Math.max(magnitude, Math.abs(expected[i]!));
    }
    maxAbsError = Math.max(maxAbsError, absError);
    maxRelError = Math.max(maxRelError, magnitude > 0 ? absError / magnitude : absError);
    const agreement = classScores(want) ? top1Agreement(actual, expected, want.shape[1]!) : null;
    if (agreement !== null) top1 = Math.min(top1 ?? 1, agreement);
  }
  return { probes, source, maxAbsError, maxRelError, top1Agreement: top1 };
}

/** [N, C] floats with more than one class: rows of scores whose argmax is a class. */
function classScores(tensor: Tensor): boolean {
  return tensor.shape.length === 2 && tensor.shape[1]! > 1 && (tensor.datatype === "FP32" || tensor.datatype === "FP64" || tensor.datatype === "FP16");
}

function top1Agreement(actual: readonly number[], expected: readonly number[], classes: number): number {
  const rows = expected.length / classes;
  let agreeing = 0;
  for (let row = 0; row < rows; row++) if (argmax(actual, row * classes, classes) === argmax(expected, row * classes, classes)) agreeing++;
  return rows === 0 ? 1 : agreeing / rows;
}

function argmax(values: readonly number[], start: number, length: number): number {
  let best = 0;
  for (let k = 1; k < length; k++) if (values[start + k]! > values[start + best]!) best = k;
  return best;
}

function numbersOf(tensor: Tensor): number[] | undefined {
  if (Array.isArray(tensor.data)) return undefined;
  if (tensor.datatype === "FP16") return Array.from(tensor.data as Uint16Array, halfToFloat);
  return Array.from(tensor.data as ArrayLike<number | bigint>, Number);
}
