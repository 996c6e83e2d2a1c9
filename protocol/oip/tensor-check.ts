/**
 * @module Checks parsed tensors against a model's declared signature before they are queued, so
 * a mismatch is a clear 400 at the edge instead of an onnxruntime error deep inside a batch.
 */
import { batchSizeOf, type BatchAxes } from "../batching.ts";
import { badRequest } from "../errors.ts";
import { halfToFloat, isHalfNonFinite } from "./fp16.ts";
import type { RequestedOutput, Tensor, TensorSpec } from "./tensor.ts";

export interface CheckInputsOptions {
  /** Largest first dimension allowed when the model's first dimension is dynamic (the batch). */
  maxBatch: number;
  /** Let NaN and ±Infinity through in FP inputs (default: refused). */
  allowNonFinite?: boolean;
  /** For messages ("model 'm' has no input 'x'"); without it they say "the model". */
  modelName?: string;
  /**
   * The model's batch axes: when given, the batched inputs must also agree on the batch size
   * along their own axes (Silero's state is batched on axis 1), and it must be within maxBatch.
   */
  batchAxes?: BatchAxes;
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(",")}]`;

/**
 * Throws 400 unless `inputs` are exactly the model's inputs, each with the declared datatype,
 * rank and fixed dimensions, dynamic dimensions at least 1, a batch within maxBatch (and, given the
 * batch axes, one batch size across the batched inputs), and (unless allowed) only finite floats.
 *
 * @example
 * checkInputs([{ name: "input", datatype: "FP32", shape: [2, 16], data }], [{ name: "input", datatype: "FP32", shape: [-1, 16] }], { maxBatch: 64 });
 */
export function checkInputs(inputs: readonly Tensor[], specs: readonly TensorSpec[], options: CheckInputsOptions): void {
  const model = options.modelName === undefined ? "the model" : `model '${options.modelName}'`;
  const declared = specs.map((s) => s.name).join(", ");
  const given = new Set<string>();
  for (const input of inputs) {
    given.add(input.name);
    if (!specs.some((s) => s.name === input.name)) throw badRequest(`${model} has no input '${input.name}'; its inputs are ${declared}`);
  }
  for (const spec of specs) {
    if (!given.has(spec.name)) throw badRequest(`missing input '${spec.name}'; ${model}'s inputs are ${declared}`);
  }
  for (const input of inputs) {
    const spec = specs.find((s) => s.name === input.name) as TensorSpec;
    checkOne(input, spec, options);
  }
  if (options.batchAxes) batchSizeOf(inputs, options.batchAxes, options.maxBatch);
}

function checkOne(input: Tensor, spec: TensorSpec, options: CheckInputsOptions): void {
  const where = `input '${input.name}'`;
  if (input.datatype !== spec.datatype) throw badRequest(`${where} must be ${spec.datatype}, got ${input.datatype}`);
  if (input.shape.length !== spec.shape.length) {
    throw badRequest(
      `${where} must have ${spec.shape.length} dimensions (shape ${shapeText(spec.shape)}), got ${input.shape.length} (shape ${shapeText(input.shape)})`,
    );
  }
  spec.shape.forEach((want, i) => {
    const got = input.shape[i] as number;
    if (want >= 0 && got !== want) {
      throw badRequest(`${where}: dimension ${i} must be ${want} (shape ${shapeText(spec.shape)}), got ${got} (shape ${shapeText(input.shape)})`);
    }
    if (want < 0 && got < 1) throw badRequest(`${where}: dimension ${i} is dynamic and must be at least 1, got ${got}`);
  });
  // A dynamic first dimension is the batch. Too large a batch is 400, not 413: it breaks the
  // model's declared contract (like a wrong fixed dimension), it is not a body-size limit, and
  // Triton answers the same case with 400.
  const batch = input.shape[0];
  if (spec.shape[0] === -1 && batch !== undefined && batch > options.maxBatch) {
    throw badRequest(`${where}: batch ${batch} exceeds the model's max_batch ${options.maxBatch}`);
  }
  if (!options.allowNonFinite) checkFinite(input, where);
}

/** The first NaN/±Infinity in an FP input, reported with its flat and multi-dimensional index. */
function checkFinite(input: Tensor, where: string): void {
  const { datatype, data } = input;
  let bad = -1;
  if (datatype === "FP16") bad = (data as Uint16Array).findIndex(isHalfNonFinite);
  else if (datatype === "FP32" || datatype === "FP64") bad = (data as Float32Array | Float64Array).findIndex((v) => !Number.isFinite(v));
  if (bad < 0) return;
  const index: number[] = [];
  let rest = bad;
  for (let d = input.shape.length - 1; d >= 0; d--) {
    const dim = input.shape[d] as number;
    index.unshift(rest % dim);
    rest = Math.floor(rest / dim);
  }
  const value = datatype === "FP16" ? halfToFloat(data[bad] as number) : (data[bad] as number);
  throw badRequest(`${where}: element ${bad} (index ${shapeText(index)}) is ${value}; only finite values are accepted`);
}

/**
 * The outputs to compute: the requested ones after checking each exists (400 otherwise), or when
 * none were requested every declared output, in binary when `binaryByDefault`.
 *
 * @example
 * selectOutputs([], [{ name: "output", datatype: "FP32", shape: [-1, 4] }], true) // [{ name: "output", binary: true }]
 */
export function selectOutputs(requested: readonly RequestedOutput[], specs: readonly TensorSpec[], binaryByDefault = false): RequestedOutput[] {
  if (requested.length === 0) return specs.map((s) => ({ name: s.name, binary: binaryByDefault }));
  for (const output of requested) {
    if (!specs.some((s) => s.name === output.name)) {
      throw badRequest(`the model has no output '${output.name}'; its outputs are ${specs.map((s) => s.name).join(", ")}`);
    }
  }
  return requested.map((o) => ({ ...o }));
}
