/**
 * @module The mapping between OIP datatypes, onnxruntime's tensor type names and the typed
 * arrays that hold their elements. Shared by the edge (onnxruntime-web) and the origin
 * (onnxruntime-node), whose tensor type names are the same.
 */
import type { OipDatatype, TensorData } from "./tensor.ts";

export type OrtTensorType =
  "bool" | "uint8" | "uint16" | "uint32" | "uint64" | "int8" | "int16" | "int32" | "int64" | "float16" | "float32" | "float64" | "string";

const OIP_TO_ORT: Record<OipDatatype, OrtTensorType> = {
  BOOL: "bool",
  UINT8: "uint8",
  UINT16: "uint16",
  UINT32: "uint32",
  UINT64: "uint64",
  INT8: "int8",
  INT16: "int16",
  INT32: "int32",
  INT64: "int64",
  FP16: "float16",
  FP32: "float32",
  FP64: "float64",
  BYTES: "string",
};

const ORT_TO_OIP = Object.fromEntries(Object.entries(OIP_TO_ORT).map(([oip, ort]) => [ort, oip])) as Record<OrtTensorType, OipDatatype>;

export function toOrtType(datatype: OipDatatype): OrtTensorType {
  return OIP_TO_ORT[datatype];
}

/** undefined for onnxruntime types OIP cannot carry (e.g. complex, int4). */
export function fromOrtType(type: string): OipDatatype | undefined {
  return ORT_TO_OIP[type as OrtTensorType];
}

/** Bytes per element in the binary extension; BYTES elements are length-prefixed instead. */
export const BYTES_PER_ELEMENT: Record<Exclude<OipDatatype, "BYTES">, number> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
};

/** An empty-capable typed array of the right kind for `datatype`, viewing `buffer`. */
export function typedArrayFor(datatype: Exclude<OipDatatype, "BYTES">, buffer: ArrayBuffer, byteOffset = 0, length?: number): Exclude<TensorData, string[]> {
  switch (datatype) {
    case "BOOL":
    case "UINT8":
      return new Uint8Array(buffer, byteOffset, length);
    case "INT8":
      return new Int8Array(buffer, byteOffset, length);
    case "UINT16":
    case "FP16":
      return new Uint16Array(buffer, byteOffset, length);
    case "INT16":
      return new Int16Array(buffer, byteOffset, length);
    case "UINT32":
      return new Uint32Array(buffer, byteOffset, length);
    case "INT32":
      return new Int32Array(buffer, byteOffset, length);
    case "UINT64":
      return new BigUint64Array(buffer, byteOffset, length);
    case "INT64":
      return new BigInt64Array(buffer, byteOffset, length);
    case "FP32":
      return new Float32Array(buffer, byteOffset, length);
    case "FP64":
      return new Float64Array(buffer, byteOffset, length);
  }
}
