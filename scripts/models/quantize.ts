/**
 * @module `quantizeModel(bytes, { mode })`: a smaller copy of an ONNX model whose MatMul/Gemm
 * weights are int8 (dynamic quantisation, 8-bit in the session too) or fp16 (stored half size,
 * computed in fp32). Other ops and initializers are left as they are; what could not be rewritten
 * is listed with the reason. Bytes that are not ONNX are refused with NotOnnxError.
 */
import { decodeModel, encodeModel, int64 } from "./onnx-graph.ts";
import { quantizeGraphFp16 } from "./quantize-fp16.ts";
import { quantizeGraphInt8 } from "./quantize-int8.ts";
import type { Skipped } from "./weight-nodes.ts";

export { NotOnnxError } from "./onnx-graph.ts";

export const QUANTIZE_MODES = ["int8", "fp16"] as const;
export type QuantizeMode = (typeof QUANTIZE_MODES)[number];

export interface QuantizeResult {
  bytes: Uint8Array;
  mode: QuantizeMode;
  /** The MatMul/Gemm nodes whose weights were rewritten. */
  quantized: string[];
  /** The MatMul/Gemm nodes left in fp32, and why. */
  skipped: Skipped[];
}

/** DynamicQuantizeLinear (the int8 activation step) exists from opset 11. */
const INT8_MIN_OPSET = 11;

export function quantizeModel(bytes: Uint8Array, options: { mode: QuantizeMode }): QuantizeResult {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  let result: { quantized: string[]; skipped: Skipped[] };
  if (options.mode === "int8") {
    const opset = int64(model.opsetImport.find((o) => (o.domain ?? "") === "")?.version);
    if (opset < INT8_MIN_OPSET) throw new Error(`int8 needs opset ${INT8_MIN_OPSET} or newer (DynamicQuantizeLinear); this model has opset ${opset}`);
    result = quantizeGraphInt8(graph);
  } else {
    result = quantizeGraphFp16(graph);
  }
  if (result.quantized.length === 0) {
    const why = result.skipped.map((s) => `${s.node}: ${s.reason}`).join("; ");
    throw new Error(`nothing to quantise: no MatMul or Gemm with a constant FP32 weight${why ? ` (${why})` : ""}`);
  }
  return { bytes: encodeModel(model), mode: options.mode, ...result };
}
