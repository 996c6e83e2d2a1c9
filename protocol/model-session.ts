/**
 * @module The one session contract shared by the edge (onnxruntime-web in a Durable Object)
 * and the origin (onnxruntime-node). Both onnxruntime packages expose the same
 * `InferenceSession`/`Tensor` API, so one adapter serves both; only loading the runtime differs.
 */
import type { InferenceSession as OrtSession, Tensor as OrtTensor } from "onnxruntime-common";
import { inferBatchAxes, type BatchAxes } from "./batching.ts";
import { fromOrtType, toOrtType } from "./oip/datatypes.ts";
import { badRequest, HttpError } from "./errors.ts";
import type { Tensor, TensorSpec } from "./oip/tensor.ts";

/** A loaded model that can run; `release` frees its native memory. */
export interface ModelSession {
  readonly inputs: TensorSpec[];
  readonly outputs: TensorSpec[];
  /** Where requests can be merged; undefined when the model has no batch dimension. */
  readonly batchAxes: BatchAxes | undefined;
  run(inputs: Tensor[], outputNames: string[]): Promise<Tensor[]>;
  release(): Promise<void>;
}

/** The slice of an onnxruntime package (web or node) this adapter needs. */
export interface OrtRuntime {
  InferenceSession: { create(bytes: Uint8Array, options?: OrtSession.SessionOptions): Promise<OrtSession> };
  Tensor: new (type: OrtTensor.Type, data: OrtTensor.DataType, dims: readonly number[]) => OrtTensor;
}

export async function createModelSession(ort: OrtRuntime, bytes: Uint8Array, options: OrtSession.SessionOptions = {}): Promise<ModelSession> {
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all", ...options });
  } catch (error) {
    throw badRequest(`not a loadable ONNX model: ${describe(error)}`);
  }
  const inputs = session.inputMetadata.map(specOf);
  const outputs = session.outputMetadata.map(specOf);
  const shapeOf = (meta: OrtSession.ValueMetadata) => ({ name: meta.name, shape: meta.isTensor ? meta.shape : [] });
  const batchAxes = inferBatchAxes(session.inputMetadata.map(shapeOf), session.outputMetadata.map(shapeOf));
  return {
    inputs,
    outputs,
    batchAxes,
    async run(feedsIn, outputNames) {
      const feeds: Record<string, OrtTensor> = {};
      for (const input of feedsIn) {
        feeds[input.name] = new ort.Tensor(toOrtType(input.datatype), input.data as OrtTensor.DataType, input.shape);
      }
      let results: OrtSession.OnnxValueMapType;
      try {
        results = await session.run(feeds, outputNames);
      } catch (error) {
        // Inputs were checked against the model's declared specs before this point, so what
        // onnxruntime still refuses (e.g. a dimension the graph constrains internally) is the
        // caller's input, not our fault. onnxruntime's own message names graph nodes and runtime
        // internals, so it goes to the operators' log; the tenant is told what it sent, which is
        // safe to repeat and usually enough to spot the wrong dimension.
        console.error(`onnxruntime refused a run (${sent(feedsIn)}): ${describe(error)}`);
        throw badRequest(`the model rejected the input: it could not run on ${sent(feedsIn)}; check the shapes against the model's metadata`);
      }
      return outputNames.map((name) => toTensor(name, results[name] as OrtTensor));
    },
    async release() {
      await session.release();
    },
  };
}

function toTensor(name: string, value: OrtTensor): Tensor {
  const datatype = fromOrtType(value.type);
  if (!datatype) throw new HttpError(500, `output '${name}' has type ${value.type}, which OIP cannot carry`);
  const data = value.data as Tensor["data"];
  const tensor: Tensor = { name, datatype, shape: [...value.dims], data: Array.isArray(data) ? [...data] : data.slice() };
  value.dispose();
  return tensor;
}

function specOf(meta: OrtSession.ValueMetadata): TensorSpec {
  if (!meta.isTensor) throw badRequest(`model value '${meta.name}' is not a tensor; hotpath serves tensor models only`);
  const datatype = fromOrtType(meta.type);
  if (!datatype) throw badRequest(`model value '${meta.name}' has type ${meta.type}, which OIP cannot carry`);
  // Symbolic or unknown dimensions become -1 (dynamic), as in OIP model metadata.
  return { name: meta.name, datatype, shape: meta.shape.map((dim) => (typeof dim === "number" && dim >= 0 ? dim : -1)) };
}

/** The inputs as the caller sent them, e.g. `input [1,3] FP32, sr [] INT64`: their own data, safe to repeat. */
function sent(inputs: Tensor[]): string {
  return inputs.map((input) => `${input.name} [${input.shape.join(",")}] ${input.datatype}`).join(", ");
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 300 ? `${message.slice(0, 300)}...` : message;
}
