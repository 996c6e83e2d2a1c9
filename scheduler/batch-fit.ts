/**
 * @module What one call brings to a batch: its rows (checked, so that a call that would make a
 * merged run fail is refused alone), the key of the calls it may share a run with, and its work.
 */
import { batchKey, batchSizeOf } from "../protocol/batching.ts";
import { HttpError } from "../protocol/errors.ts";
import type { Tensor } from "../protocol/oip/tensor.ts";
import type { ScheduledCall } from "./contract.ts";

/**
 * Rows a call brings to a batch, or the 400 it gets when its batched inputs disagree on the batch
 * size or the size exceeds a max_batch above 1. A max_batch of 1 only means "never merge" to the
 * scheduler (the origin sets it when batching is off), so there the route's check bounds rows.
 */
export function rowsOf(call: ScheduledCall): number | HttpError {
  const { model } = call;
  if (!model.batchAxes) return 1;
  try {
    return batchSizeOf(call.inputs, model.batchAxes, model.maxBatch > 1 ? model.maxBatch : Number.POSITIVE_INFINITY);
  } catch (error) {
    return HttpError.from(error);
  }
}

/** Calls with equal keys may share a run; undefined: the call runs alone. */
export function batchKeyOf(call: ScheduledCall): string | undefined {
  const { model } = call;
  if (!model.batchAxes || model.maxBatch <= 1) return undefined;
  const key = batchKey(call.inputs, model.batchAxes, call.outputNames);
  // JSON again, so that no model name or version can end where another begins; the bytes' sha256
  // keeps two uploads under one name and version from sharing a run.
  return key === undefined ? undefined : JSON.stringify([model.name, model.version, model.sha256, key]);
}

/** Input elements: what a run's time is predicted from. */
export function workOf(inputs: readonly Tensor[]): number {
  return inputs.reduce((sum, input) => sum + input.data.length, 0);
}
