/**
 * @module The main thread's side of the inference worker: sessions that look like any other
 * ModelSession (the contract shared with the edge) but run on the worker thread, so the event
 * loop stays free while a model runs (see inference-worker.ts for why).
 */
import { extname } from "node:path";
import { Worker } from "node:worker_threads";
import { HttpError } from "../protocol/errors.ts";
import type { ModelSession } from "../protocol/model-session.ts";
import type { Tensor } from "../protocol/oip/tensor.ts";
import type { CreatedSession, WorkerReply, WorkerRequest } from "./worker-messages.ts";

type Pending = { resolve: (value: unknown) => void; reject: (error: HttpError) => void };
type Op = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

export class InferenceWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stopped: string | undefined;

  /** `onExit` hears of a worker that died; the server exits too rather than answer without one. */
  constructor(onExit: (reason: string) => void = () => undefined) {
    // Next to this module with the same extension: origin/*.ts from source, dist/*.mjs when bundled.
    const url = new URL(`./inference-worker${extname(new URL(import.meta.url).pathname)}`, import.meta.url);
    this.#worker = new Worker(url);
    this.#worker.on("message", (reply: WorkerReply) => this.#settle(reply));
    this.#worker.on("error", (error) => this.#stop(`the inference worker failed: ${error.message}`, onExit));
    this.#worker.on("exit", (code) => this.#stop(`the inference worker exited with code ${code}`, onExit));
  }

  /**
   * Creates a session on the worker. The bytes move to the worker (the caller's view is detached
   * when it owns its whole buffer), so a 100 MB model is not copied on the way.
   *
   * @example
   * const session = await worker.createSession(bytes, "cpu", 0);
   * const [y] = await session.run([x], ["output"]);
   */
  async createSession(bytes: Uint8Array, ep: string, threads: number): Promise<ModelSession> {
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
    const created = (await this.#call({ op: "create", bytes, ep, threads }, owned ? [bytes.buffer as ArrayBuffer] : [])) as CreatedSession;
    return {
      inputs: created.inputs,
      outputs: created.outputs,
      batchAxes: created.batchAxes,
      // Inputs are copied (structured clone), not moved: the scheduler may still hold them.
      run: async (inputs, outputNames) => (await this.#call({ op: "run", session: created.session, inputs, outputNames })) as Tensor[],
      release: async () => {
        if (!this.#stopped) await this.#call({ op: "release", session: created.session });
      },
    };
  }

  /** Opens the 4-input probe model on `ep` and runs it once; rejects with onnxruntime's whole message. */
  async probe(bytes: Uint8Array, ep: string, threads: number): Promise<void> {
    await this.#call({ op: "probe", bytes, ep, threads });
  }

  async close(): Promise<void> {
    this.#stopped ??= "the origin is shutting down";
    this.#worker.removeAllListeners("exit");
    await this.#worker.terminate();
  }

  #call(op: Op, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.#stopped) return Promise.reject(new HttpError(503, this.#stopped, 5));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...op, id }, transfer);
    });
  }

  #settle(reply: WorkerReply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) return;
    this.#pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(HttpError.fromJSON(reply.error));
  }

  #stop(reason: string, onExit: (reason: string) => void): void {
    if (this.#stopped) return;
    // The reason (the worker's own error) goes to onExit, which logs it; requests in flight reach
    // tenants through the edge, so they are told only that the worker is gone.
    this.#stopped = "the origin's inference worker stopped";
    for (const pending of this.#pending.values()) pending.reject(new HttpError(503, this.#stopped, 5));
    this.#pending.clear();
    onExit(reason);
  }
}
