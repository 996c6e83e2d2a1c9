/**
 * @module OIP JSON inference as a user would write it on onnxruntime-node without a platform:
 * read the body, JSON.parse, make typed arrays, run the session, answer every output as JSON.
 * No auth, limits, scheduling, deadlines or checks beyond what a wrong request needs to fail
 * cleanly: the plain peer that hotpath's inference path is measured against.
 */
import type { IncomingMessage } from "node:http";
import { HttpError } from "../../protocol/errors.ts";
import type { ModelSession } from "../../protocol/model-session.ts";
import type { OipDatatype, Tensor, TensorData } from "../../protocol/oip/tensor.ts";

export const OIP_INFER_PATH = /^\/v2\/models\/([^/]+)\/infer$/;

interface JsonTensor {
  name: string;
  datatype: OipDatatype;
  shape: number[];
  data: number[];
}

/** The datatypes the benchmark's JSON requests carry (Silero: FP32 frames and state, INT64 sample rate). */
function typedData(tensor: JsonTensor): TensorData {
  if (tensor.datatype === "FP32") return Float32Array.from(tensor.data);
  if (tensor.datatype === "INT64") return BigInt64Array.from(tensor.data, (v) => BigInt(v));
  throw new HttpError(400, `input '${tensor.name}': datatype ${tensor.datatype} is not handled by the plain server`);
}

/** The inputs of a parsed OIP JSON request as tensors. */
export function tensorsOf(parsed: { inputs?: JsonTensor[] }): Tensor[] {
  if (!Array.isArray(parsed.inputs)) throw new HttpError(400, "the body has no 'inputs' array");
  return parsed.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: typedData(t) }));
}

export async function inferJson(
  sessions: ReadonlyMap<string, ModelSession>,
  model: string,
  request: IncomingMessage,
): Promise<{ status: number; body: unknown }> {
  const session = sessions.get(model);
  if (!session) throw new HttpError(404, `no model '${model}'`);
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  let parsed: { inputs?: JsonTensor[] };
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { inputs?: JsonTensor[] };
  } catch {
    throw new HttpError(400, "the body is not JSON");
  }
  const inputs = tensorsOf(parsed);
  const outputs = await session.run(
    inputs,
    session.outputs.map((o) => o.name),
  );
  return {
    status: 200,
    body: {
      model_name: model,
      outputs: outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, data: Array.from(o.data as ArrayLike<number | bigint>, Number) })),
    },
  };
}
