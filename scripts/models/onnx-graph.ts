/**
 * @module Reading and building the parts of an ONNX ModelProto that the quantiser rewrites:
 * decoding with a clear refusal of bytes that are not ONNX, float initializers as Float32Array,
 * new initializers and nodes, the input signature, and a re-encode.
 */
import onnxProto from "onnx-proto";

export const { onnx } = onnxProto;
export type Model = onnxProto.onnx.ModelProto;
export type Graph = onnxProto.onnx.IGraphProto;
export type Tensor = onnxProto.onnx.ITensorProto;
export type Node = onnxProto.onnx.INodeProto;
export const DataType = onnx.TensorProto.DataType;

/** Thrown for bytes that do not decode to a usable ONNX model; the message says why, for a CLI line. */
export class NotOnnxError extends Error {
  override readonly name = "NotOnnxError";
}

// ONNX stores raw_data little-endian; typed-array views are only that on little-endian hosts.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** protobufjs decodes int64 fields as Long when the long package is installed, else as number. */
export function int64(value: number | { toNumber(): number } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === "number" ? value : value.toNumber();
}

/**
 * Decodes a ModelProto and checks it is one: protobuf decodes many byte strings without error (an
 * empty buffer is a valid empty message), so a model also needs an IR version, an opset and a
 * graph with nodes and outputs.
 */
export function decodeModel(bytes: Uint8Array): Model {
  if (!LITTLE_ENDIAN) throw new Error("quantize: big-endian hosts are not supported");
  let model: Model;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new NotOnnxError(`not an ONNX model: the bytes are not a protobuf ModelProto (${(error as Error).message})`);
  }
  const graph = model.graph;
  if (int64(model.irVersion) <= 0 || model.opsetImport.length === 0 || !graph || (graph.node ?? []).length === 0 || (graph.output ?? []).length === 0) {
    throw new NotOnnxError("not an ONNX model: no IR version, opset or graph with nodes and outputs");
  }
  return model;
}

export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** The element count of a tensor with these dims. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((product, d) => product * d, 1);
}

export function tensorDims(tensor: Tensor): number[] {
  return (tensor.dims ?? []).map(int64);
}

/**
 * The values of a FLOAT initializer stored in the file (raw_data or float_data), or undefined for
 * anything else (other types, external data, a size that does not match its dims).
 */
export function floatValues(tensor: Tensor): Float32Array | undefined {
  if (tensor.dataType !== DataType.FLOAT || tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) return undefined;
  const count = elementCount(tensorDims(tensor));
  const raw = tensor.rawData;
  if (raw && raw.length > 0) {
    if (raw.length !== count * 4) return undefined;
    // A copy: the decoded buffer's offset need not be 4-aligned.
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  }
  const floats = tensor.floatData ?? [];
  return floats.length === count ? Float32Array.from(floats) : undefined;
}

/** A new initializer whose raw_data is a view of `values` (no per-element JS numbers for big tensors). */
export function initializer(name: string, dataType: number, dims: number[], values: ArrayBufferView): onnxProto.onnx.TensorProto {
  return onnx.TensorProto.create({ name, dims, dataType, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
}

export function node(opType: string, inputs: string[], outputs: string[], name: string, attributes: onnxProto.onnx.IAttributeProto[] = []): Node {
  return onnx.NodeProto.create({ name, opType, input: inputs, output: outputs, attribute: attributes });
}

export function intAttribute(name: string, value: number): onnxProto.onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}

/** An attribute's numeric value (INT or FLOAT), or `fallback` when the node does not set it. */
export function numberAttribute(n: Node, name: string, fallback: number): number {
  const attribute = (n.attribute ?? []).find((a) => a.name === name);
  if (!attribute) return fallback;
  return attribute.type === onnx.AttributeProto.AttributeType.FLOAT ? (attribute.f ?? fallback) : int64(attribute.i);
}

/** OIP datatype names of the ONNX element types a probe can be generated for. */
const OIP_DATATYPES: Record<number, string> = {
  [DataType.FLOAT]: "FP32",
  [DataType.FLOAT16]: "FP16",
  [DataType.DOUBLE]: "FP64",
  [DataType.UINT8]: "UINT8",
  [DataType.INT8]: "INT8",
  [DataType.UINT16]: "UINT16",
  [DataType.INT16]: "INT16",
  [DataType.INT32]: "INT32",
  [DataType.INT64]: "INT64",
  [DataType.UINT32]: "UINT32",
  [DataType.UINT64]: "UINT64",
  [DataType.BOOL]: "BOOL",
  [DataType.STRING]: "BYTES",
};

export interface SignatureEntry {
  name: string;
  datatype: string;
  /** -1 marks a dynamic dimension, as onnxruntime reports them. */
  shape: number[];
}

function signatureOf(values: readonly onnxProto.onnx.IValueInfoProto[]): SignatureEntry[] {
  return values.map((value) => {
    const tensorType = value.type?.tensorType;
    const datatype = OIP_DATATYPES[tensorType?.elemType ?? DataType.UNDEFINED];
    if (!tensorType || !datatype) throw new Error(`input or output ${value.name ?? "?"} is not a tensor of a type hotpath serves`);
    const shape = (tensorType.shape?.dim ?? []).map((d) => (d.dimValue !== null && d.dimValue !== undefined && int64(d.dimValue) > 0 ? int64(d.dimValue) : -1));
    return { name: value.name ?? "", datatype, shape };
  });
}

/** The graph's real inputs (initializers listed as inputs, as older IR versions do, are not) and outputs. */
export function modelSignature(model: Model): { inputs: SignatureEntry[]; outputs: SignatureEntry[] } {
  const graph = model.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  return {
    inputs: signatureOf((graph.input ?? []).filter((i) => !initializers.has(i.name))),
    outputs: signatureOf(graph.output ?? []),
  };
}
