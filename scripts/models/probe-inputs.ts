/**
 * @module The probes `hotpath models quantize` compares a quantised model with its original on:
 * the platform's own generator (protocol/probe-inputs.ts, which the upload accuracy guard uses), one
 * set of input tensors per probe, each with every dynamic dimension 1 and its own seed, so the
 * command line and the edge make the very same numbers (floats on the k / 1024 grid, exact in
 * FP16, integers in [0, 10)). Models with string (BYTES) inputs need probes from the uploader.
 */
import { generateProbeInputs } from "../../protocol/probe-inputs.ts";
import type { OipDatatype, Tensor, TensorSpec } from "../../protocol/oip/tensor.ts";

export interface ProbeSpec {
  name: string;
  datatype: string;
  /** -1 marks a dynamic dimension. */
  shape: number[];
}

export type ProbeTensor = Tensor;

/**
 * `count` probes for the inputs in `signature`, each a full set of input tensors. Probe p is drawn
 * from seed `seed + p`, input after input in signature order, so adding probes keeps the first ones.
 */
export function probeInputs(signature: readonly ProbeSpec[], count: number, seed = 1): ProbeTensor[][] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`probe count must be a whole number, 1 or more, got ${count}`);
  const specs = signature.map((spec): TensorSpec => ({ ...spec, datatype: spec.datatype as OipDatatype }));
  return Array.from({ length: count }, (_, probe) => generateProbeInputs(specs, { count: 1, seed: seed + probe, dynamicDim: 1 }));
}
