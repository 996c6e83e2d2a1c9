/** @module What the main thread and the inference worker (origin/inference-worker.ts) say to each other. */
import type { BatchAxes } from "../protocol/batching.ts";
import type { SerializedHttpError } from "../protocol/errors.ts";
import type { Tensor, TensorSpec } from "../protocol/oip/tensor.ts";

export type WorkerRequest = { id: number } & (
  | { op: "probe"; bytes: Uint8Array; ep: string; threads: number }
  | { op: "create"; bytes: Uint8Array; ep: string; threads: number }
  | { op: "run"; session: number; inputs: Tensor[]; outputNames: string[] }
  | { op: "release"; session: number }
);

/** A failure crosses as the HttpError's plain form (anything else thrown there arrives as a 500). */
export type WorkerReply = { id: number } & ({ ok: true; value: unknown } | { ok: false; error: SerializedHttpError });

export interface CreatedSession {
  session: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  batchAxes: BatchAxes | undefined;
}
