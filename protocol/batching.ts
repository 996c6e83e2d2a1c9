/**
 * @module Dynamic batching: where each tensor's batch dimension is, and how requests are merged
 * into one run and the outputs split back. Shared by the edge and the origin.
 *
 * The batch axis comes from the model itself: the symbolic name of the first input's first
 * dimension (e.g. "batch") marks the batch axis of every tensor that uses it (Silero keeps it
 * at axis 1 of its state). Models whose exporter gave outputs other names (PP-OCR) fall back to
 * axis 0 when every input and output has a dynamic first dimension. Tensors without a batch
 * axis (Silero's `sr`) are shared: requests merge only when those are equal.
 */
import { badRequest } from "./errors.ts";
import type { Tensor, TensorData } from "./oip/tensor.ts";

/** Per tensor name, the batch axis, or null for a tensor shared by the whole batch. */
export interface BatchAxes {
  inputs: Record<string, number | null>;
  outputs: Record<string, number | null>;
}

type Dim = number | string;
interface ValueShape {
  name: string;
  shape: readonly Dim[];
}

export function inferBatchAxes(inputs: readonly ValueShape[], outputs: readonly ValueShape[]): BatchAxes | undefined {
  const symbol = inputs[0]?.shape[0];
  if (typeof symbol === "string" && symbol !== "") {
    const axisOf = (v: ValueShape) => (v.shape.indexOf(symbol) >= 0 ? v.shape.indexOf(symbol) : null);
    const outputAxes = outputs.map(axisOf);
    if (outputAxes.every((axis) => axis !== null)) {
      return {
        inputs: Object.fromEntries(inputs.map((v) => [v.name, axisOf(v)])),
        outputs: Object.fromEntries(outputs.map((v, k) => [v.name, outputAxes[k]!])),
      };
    }
  }
  const dynamicFirst = (v: ValueShape) => v.shape.length > 0 && typeof v.shape[0] !== "number";
  if (inputs.length > 0 && outputs.length > 0 && [...inputs, ...outputs].every(dynamicFirst)) {
    return { inputs: Object.fromEntries(inputs.map((v) => [v.name, 0])), outputs: Object.fromEntries(outputs.map((v) => [v.name, 0])) };
  }
  return undefined;
}

/**
 * Requests merge only with others of the same key; undefined means this request cannot be batched.
 * The key is the JSON of its parts, not a join on some separator: names and BYTES values may
 * contain any character, and a separator inside one (a comma in a shared BYTES value) would let
 * two different requests share a key and run as one batch.
 */
export function batchKey(inputs: readonly Tensor[], axes: BatchAxes, outputNames: readonly string[]): string | undefined {
  const parts: unknown[] = [outputNames];
  // Every request to a batching model makes its key on the host's thread: no copy to sort one input.
  const ordered = inputs.length > 1 ? [...inputs].sort((a, b) => (a.name < b.name ? -1 : 1)) : inputs;
  for (const input of ordered) {
    const axis = axes.inputs[input.name];
    if (axis === undefined) return undefined;
    if (axis === null) {
      // A shared tensor must be equal across the batch; only small ones are worth comparing.
      if (input.data.length > 16) return undefined;
      // Numbers (bigints too) join unambiguously, -0 apart from 0 (a run takes one request's copy, and
      // the sign can matter); BYTES values may hold any character, so they go as JSON.
      const values = Array.isArray(input.data) ? input.data : Array.from(input.data as ArrayLike<number | bigint>, signed).join(",");
      parts.push([input.name, input.datatype, input.shape, values]);
    } else {
      if (axis >= input.shape.length) return undefined;
      parts.push([input.name, input.datatype, input.shape.map((d, k) => (k === axis ? "*" : d))]);
    }
  }
  return JSON.stringify(parts);
}

/**
 * The batch size of a request: the extent of its batched inputs on their batch axes (1 when it
 * has none). Throws 400 when those inputs disagree, or when the size exceeds `maxBatch`: merged
 * with others, such a request would make the whole run fail (Silero's `input [1,576]` with
 * `state [2,5,128]` counts as 1 row but brings 5 rows of state), so it is refused alone, before
 * it is queued.
 */
export function batchSizeOf(inputs: readonly Tensor[], axes: BatchAxes, maxBatch = Number.POSITIVE_INFINITY): number {
  let size: number | undefined;
  let first: Tensor | undefined;
  const named = (input: Tensor, axis: number) => `input '${input.name}' (axis ${axis} of shape [${input.shape.join(",")}])`;
  for (const input of inputs) {
    const axis = axes.inputs[input.name];
    if (axis === null || axis === undefined) continue;
    const extent = input.shape[axis] ?? 1;
    if (size === undefined) {
      size = extent;
      first = input;
    } else if (extent !== size) {
      throw badRequest(`inputs disagree on the batch size: ${named(first!, axes.inputs[first!.name]!)} has ${size}, ${named(input, axis)} has ${extent}`);
    }
  }
  if (size !== undefined && size > maxBatch)
    throw badRequest(`batch size ${size} of ${named(first!, axes.inputs[first!.name]!)} exceeds the model's max_batch ${maxBatch}`);
  return size ?? 1;
}

/** Merges requests (all with the same batchKey) into one set of inputs. */
export function mergeInputs(requests: readonly (readonly Tensor[])[], axes: BatchAxes): Tensor[] {
  const first = requests[0] ?? [];
  return first.map((tensor) => {
    const axis = axes.inputs[tensor.name];
    if (axis === null || axis === undefined) return tensor;
    const parts = requests.map((inputs) => inputs.find((t) => t.name === tensor.name)!);
    return concatAlong(parts, axis);
  });
}

/** Splits merged outputs back, request by request, by the sizes each contributed. */
export function splitOutputs(outputs: readonly Tensor[], axes: BatchAxes, sizes: readonly number[]): Tensor[][] {
  const perRequest: Tensor[][] = sizes.map(() => []);
  for (const output of outputs) {
    const axis = axes.outputs[output.name];
    if (axis === null || axis === undefined) {
      for (const list of perRequest) list.push(output);
      continue;
    }
    splitAlong(output, axis, sizes).forEach((part, k) => perRequest[k]!.push(part));
  }
  return perRequest;
}

function concatAlong(parts: readonly Tensor[], axis: number): Tensor {
  const template = parts[0]!;
  const outer = product(template.shape.slice(0, axis));
  const inner = product(template.shape.slice(axis + 1));
  const total = parts.reduce((sum, t) => sum + (t.shape[axis] ?? 0), 0);
  const data = allocateLike(template.data, outer * total * inner);
  let offset = 0;
  for (let o = 0; o < outer; o++) {
    for (const part of parts) {
      const run = (part.shape[axis] ?? 0) * inner;
      copyInto(data, offset, part.data, o * run, run);
      offset += run;
    }
  }
  const shape = [...template.shape];
  shape[axis] = total;
  return { name: template.name, datatype: template.datatype, shape, data };
}

function splitAlong(tensor: Tensor, axis: number, sizes: readonly number[]): Tensor[] {
  const outer = product(tensor.shape.slice(0, axis));
  const inner = product(tensor.shape.slice(axis + 1));
  const total = tensor.shape[axis] ?? 0;
  return sizes.map((size, k) => {
    const before = sizes.slice(0, k).reduce((a, b) => a + b, 0);
    const data = allocateLike(tensor.data, outer * size * inner);
    for (let o = 0; o < outer; o++) copyInto(data, o * size * inner, tensor.data, (o * total + before) * inner, size * inner);
    const shape = [...tensor.shape];
    shape[axis] = size;
    return { name: tensor.name, datatype: tensor.datatype, shape, data };
  });
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function allocateLike(data: TensorData, length: number): TensorData {
  if (Array.isArray(data)) return new Array<string>(length).fill("");
  return new (data.constructor as new (n: number) => Exclude<TensorData, string[]>)(length);
}

function copyInto(target: TensorData, at: number, source: TensorData, from: number, length: number): void {
  if (Array.isArray(target)) {
    for (let k = 0; k < length; k++) target[at + k] = (source as string[])[from + k]!;
    return;
  }
  (target as Float32Array).set((source as Float32Array).subarray(from, from + length), at);
}

const signed = (value: number | bigint): string => (Object.is(value, -0) ? "-0" : String(value));
