/**
 * @module Tensors as hotpath moves them between router, Durable Objects and origins.
 * The element layout is row-major and flat; datatypes are the Open Inference Protocol's names.
 * Only the datatypes onnxruntime (web and node) can run are listed.
 */

export const OIP_DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"] as const;
export type OipDatatype = (typeof OIP_DATATYPES)[number];

/** Flat element storage per datatype. FP16 keeps raw IEEE half bits; BOOL keeps 0/1 bytes. */
export type TensorData =
  Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | BigInt64Array | BigUint64Array | Float32Array | Float64Array | string[];

export interface Tensor {
  name: string;
  datatype: OipDatatype;
  shape: number[];
  data: TensorData;
}

/** What a model declares for one input or output; -1 marks a dynamic dimension. */
export interface TensorSpec {
  name: string;
  datatype: OipDatatype;
  shape: number[];
}

/** Requested output: name plus whether the client wants it in the binary extension. */
export interface RequestedOutput {
  name: string;
  binary: boolean;
}

export interface InferRequest {
  id?: string;
  inputs: Tensor[];
  /** Empty means every output of the model. */
  outputs: RequestedOutput[];
  /** Default for outputs not listed (the `binary_data_output` request parameter). */
  binaryByDefault: boolean;
  parameters: Record<string, unknown>;
}

export interface InferResult {
  modelName: string;
  modelVersion: string;
  id?: string;
  outputs: Tensor[];
}

/**
 * The elements a shape holds: a float that may pass 2^53 or reach Infinity, which compares
 * correctly with any limit; a zero dim makes it 0 even after an overflow (Infinity * 0 is NaN,
 * which would compare false with every limit).
 */
export function elementCount(shape: readonly number[]): number {
  return shape.includes(0) ? 0 : shape.reduce((product, dim) => product * dim, 1);
}
