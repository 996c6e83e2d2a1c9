/**
 * @module The benchmark's plain peer for the functions: one Node process, node:http and
 * onnxruntime-node, no platform. `node scripts/bench/plain-functions-server.ts --port 8838 [--threads 1]`
 * answers `POST /v1/functions/{name}` with the JSON hotpath answers, by running the very function
 * modules hotpath serves (functions/registry.ts: the same decoders, Silero loop and OCR pipeline)
 * with their model calls on local sessions: `infer` is one session run, a `job` runs its host loop
 * here. Server-Timing gives `decode`, `infer` (the model runs, summed), `post` and `total`, and
 * `runs`. It also answers `POST /v2/models/{name}/infer` with OIP JSON tensors in and out, as a
 * user would write it on onnxruntime-node (parse, run, stringify: plain-oip.ts), the peer of
 * hotpath's inference path in the `start` scenario. Prints `listening on http://127.0.0.1:<port>`
 * once its sessions are loaded.
 */
import "./node-function-hooks.ts";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import type { FunctionContext, HostLoop } from "../../functions/contract.ts";
import { HttpError } from "../../protocol/errors.ts";
import { createModelSession, type ModelSession } from "../../protocol/model-session.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { catalogEntry } from "../models/catalog.ts";
import { inferJson, OIP_INFER_PATH } from "./plain-oip.ts";
import { modelFile } from "./stack.ts";

// After the hooks: the registry loads the bundled OCR dictionary through them.
const { FUNCTIONS, functionNamed } = await import("../../functions/registry.ts");

const { values } = parseArgs({ options: { port: { type: "string" }, threads: { type: "string", default: "1" } } });
const port = Number(values.port);
const threads = Number(values.threads);
if (!Number.isInteger(port) || !Number.isInteger(threads) || threads < 0) {
  console.error("usage: node scripts/bench/plain-functions-server.ts --port N [--threads 1 (0: onnxruntime's default)]");
  process.exit(2);
}

// One intra-op thread by default: a ModelHost runs onnxruntime-web's wasm on its one thread, so
// this compares the runtimes, not the thread counts.
const sessionOptions = threads > 0 ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {};
const sessions = new Map<string, ModelSession>();
for (const name of new Set(FUNCTIONS.flatMap((f) => f.models))) {
  sessions.set(name, await createModelSession(ort, new Uint8Array(readFileSync(modelFile(name))), sessionOptions));
}

/** Model calls of one request, on the local sessions, with their time and run count. */
function localContext(): { context: FunctionContext; spent: { inferMs: number; runs: number } } {
  const spent = { inferMs: 0, runs: 0 };
  const run = async (model: string, inputs: Tensor[], outputNames: string[]) => {
    const session = sessions.get(model);
    if (!session) throw new Error(`no session for ${model}`);
    const started = performance.now();
    try {
      return await session.run(inputs, outputNames);
    } finally {
      spent.inferMs += performance.now() - started;
      spent.runs++;
    }
  };
  const context: FunctionContext = {
    infer: run,
    maxBatch: (model) => catalogEntry(model).maxBatch,
    job: <P, R>(loop: HostLoop<P, R>, payload: P) => loop.run(loop.plan(payload).payload, (inputs, names) => run(loop.model, inputs, names)),
  };
  return { context, spent };
}

async function answer(request: IncomingMessage): Promise<{ status: number; body: unknown; timing?: string }> {
  const started = performance.now();
  const url = new URL(request.url ?? "/", "http://plain");
  const oipModel = request.method === "POST" ? OIP_INFER_PATH.exec(url.pathname)?.[1] : undefined;
  if (oipModel !== undefined) return inferJson(sessions, oipModel, request);
  const name = /^\/v1\/functions\/([^/]+)$/.exec(url.pathname)?.[1];
  const fn = request.method === "POST" && name ? functionNamed(name) : undefined;
  if (!fn) throw new HttpError(404, "POST /v1/functions/{vad|ocr-line|ocr}");
  const mediaType = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (!fn.accepts.includes(mediaType)) throw new HttpError(415, `function '${fn.name}' accepts ${fn.accepts.join(", ")}`);
  const call = fn.prepare(url.searchParams);
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = new Uint8Array(Buffer.concat(chunks));

  const t0 = performance.now();
  const decoded = call.decode(body, mediaType);
  const t1 = performance.now();
  const { context, spent } = localContext();
  const ran = await decoded.run(context);
  const t2 = performance.now();
  const result = ran.post();
  const t3 = performance.now();
  const timing = [
    `decode;dur=${(t1 - t0).toFixed(2)}`,
    `infer;dur=${spent.inferMs.toFixed(2)}`,
    `runs;desc="${spent.runs}"`,
    `post;dur=${(t3 - t2).toFixed(2)}`,
    `total;dur=${(t3 - started).toFixed(2)}`,
  ].join(", ");
  return { status: 200, body: result, timing };
}

function reply(response: ServerResponse, status: number, body: unknown, timing?: string): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...(timing ? { "server-timing": timing } : {}),
  });
  response.end(text);
}

const server = createServer((request, response) => {
  answer(request).then(
    ({ status, body, timing }) => reply(response, status, body, timing),
    (error: unknown) => {
      if (error instanceof HttpError) return reply(response, error.status, { error: error.message });
      console.error(error);
      reply(response, 500, { error: "internal error" });
    },
  );
});
server.keepAliveTimeout = 30_000;
server.listen(port, "127.0.0.1", () => {
  // The port it got: a test asks for 0.
  const bound = (server.address() as AddressInfo).port;
  console.log(`listening on http://127.0.0.1:${bound}; onnxruntime-node, ${threads || "default"} intra-op threads`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
