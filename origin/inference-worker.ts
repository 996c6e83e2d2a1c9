/**
 * @module The worker thread that owns the origin's onnxruntime-node sessions.
 *
 * onnxruntime-node's `session.run` is synchronous on the calling thread (its promise only defers
 * the start with setImmediate), so a 100 ms run on the main thread would stall every timer and
 * socket: 504s would fire late, health checks would time out and the edge's circuit breaker would
 * open on an origin that is merely busy. Here the runs block this thread instead, and the main
 * thread keeps accepting, queueing and answering. Sessions are made with the shared contract
 * (protocol/model-session.ts), exactly as on the edge.
 */
import { parentPort } from "node:worker_threads";
import * as ortNode from "onnxruntime-node";
import { HttpError } from "../protocol/errors.ts";
import { createModelSession, type ModelSession, type OrtRuntime } from "../protocol/model-session.ts";
import type { Tensor } from "../protocol/oip/tensor.ts";
import type { WorkerReply, WorkerRequest } from "./worker-messages.ts";

const ort = ortNode as unknown as OrtRuntime;
const port = parentPort;
if (!port) throw new Error("origin/inference-worker.ts runs as a worker thread, not as a script");

const sessions = new Map<number, ModelSession>();
let nextSession = 1;

port.on("message", (request: WorkerRequest) => {
  void handle(request).then(
    ({ value, transfer }) => port.postMessage({ id: request.id, ok: true, value } satisfies WorkerReply, transfer),
    (error: unknown) => port.postMessage({ id: request.id, ok: false, error: replyError(request, error).toJSON() } satisfies WorkerReply),
  );
});

async function handle(request: WorkerRequest): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  switch (request.op) {
    case "probe": {
      // onnxruntime directly, not createModelSession: its message is kept whole (the reason a
      // provider is missing comes at the end of a long one).
      const options = sessionOptions(request.ep, request.threads);
      const session = await ortNode.InferenceSession.create(request.bytes, options);
      await session.run({ x: new ortNode.Tensor("float32", new Float32Array(4), [1, 4]) });
      await session.release();
      return { value: true, transfer: [] };
    }
    case "create": {
      const session = await createModelSession(ort, request.bytes, sessionOptions(request.ep, request.threads));
      const id = nextSession++;
      sessions.set(id, session);
      return { value: { session: id, inputs: session.inputs, outputs: session.outputs, batchAxes: session.batchAxes }, transfer: [] };
    }
    case "run": {
      const outputs = await sessionOf(request.session).run(request.inputs, request.outputNames);
      // Outputs are fresh copies (model-session.ts), so their buffers can move without a copy.
      return { value: outputs, transfer: outputs.flatMap(bufferOf) };
    }
    case "release": {
      const session = sessions.get(request.session);
      sessions.delete(request.session);
      await session?.release();
      return { value: true, transfer: [] };
    }
  }
}

/**
 * A failed run answers a tenant (through the edge), so an error that is not an HttpError (a raw
 * onnxruntime one) is logged here and answered as a generic 500. Probes and loads keep the whole
 * message: the operator reads those, at startup and in the token-only ready body.
 */
function replyError(request: WorkerRequest, error: unknown): HttpError {
  if (request.op !== "run" || error instanceof HttpError) return HttpError.from(error);
  console.error("a run on the inference worker failed", error);
  return new HttpError(500, "inference failed on this origin");
}

function sessionOptions(ep: string, threads: number) {
  return { executionProviders: [ep], ...(threads > 0 ? { intraOpNumThreads: threads } : {}) };
}

function sessionOf(id: number): ModelSession {
  const session = sessions.get(id);
  if (!session) throw new HttpError(503, "the model's session was released");
  return session;
}

function bufferOf(tensor: Tensor): ArrayBuffer[] {
  const data = tensor.data;
  if (Array.isArray(data) || !(data.buffer instanceof ArrayBuffer)) return [];
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? [data.buffer] : [];
}
