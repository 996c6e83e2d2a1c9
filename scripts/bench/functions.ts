/**
 * @module Scenario `functions`: `vad` on a 10 s clip, `ocr-line` and `ocr` through hotpath's local
 * stack (premium key, a deadline that fits) beside a plain Node server doing the same work with
 * onnxruntime-node and the same function code (plain-functions-server.ts), in the same run:
 * p50/p99 one request at a time (the two servers interleaved, so drift on a noisy machine hits
 * both), throughput at a small concurrency, how hotpath's time splits (Server-Timing) and its
 * hops per call; then how many live 16 kHz `vad` streams one host keeps up with in real time.
 */
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { catalogEntry } from "../models/catalog.ts";
import { PORTS, type Scenario } from "./context.ts";
import { functionCases, speechClip, wavFile, type FunctionCase } from "./function-media.ts";
import { streamSteps } from "./function-streams.ts";
import { report, type Measured } from "./functions-report.ts";
import { closedLoop, newAgent, send, type Outcome, type RequestSpec } from "./load.ts";
import { startPlainServer } from "./plain-functions.ts";
import { modelFile } from "./stack.ts";

/** The target: hotpath's `vad` on 10 s at most this many times the plain server's p50. */
export const TARGET_VAD_RATIO = 3;
const VAD_SECONDS = 10;
/** Premium's longest deadline: a loaded machine must not turn slowness into 504s. */
const DEADLINE_MS = 10_000;
const MODELS = ["silero-vad", "ppocr-rec", "ppocr-det"];
const THROUGHPUT_CONCURRENCY = 4;
/** A live stream keeps up when its events and `done` come within this of the audio that decides them. */
const STREAM_BOUND_MS = 100;

export const functions: Scenario = async ({ quick, log, signal, startStack, track }) => {
  const sequential: Record<FunctionCase["name"], number> = quick ? { vad: 15, "ocr-line": 20, ocr: 8 } : { vad: 150, "ocr-line": 200, ocr: 60 };
  const warmup = quick ? 3 : 10;
  const loopMs = quick ? 3_000 : 10_000;
  for (const model of MODELS) modelFile(model);

  log(`functions: starting the plain Node server on ${PORTS.functionsPlain} and a stack on ${PORTS.functions}`);
  const plain = track(await startPlainServer(PORTS.functionsPlain));
  log(`functions: plain server ${plain.banner}`);
  const stack = await startStack({ port: PORTS.functions, label: "bench-functions" });
  for (const model of MODELS) {
    const entry = catalogEntry(model);
    await stack.upload(model, "1", modelFile(model), { placement: entry.placement, maxBatch: entry.maxBatch });
  }
  const [premium] = await stack.tenants("premium", 1, "functions-premium");
  const key = premium!.key;

  const cases = functionCases(VAD_SECONDS);
  const specFor = (c: FunctionCase, server: "hotpath" | "plain"): RequestSpec => ({
    path: `/v1/functions/${c.name}`,
    body: c.body,
    headers: {
      "content-type": c.contentType,
      ...(server === "hotpath" ? { authorization: `Bearer ${key}`, [TIMEOUT_HEADER]: String(DEADLINE_MS) } : {}),
    },
    timeoutMs: DEADLINE_MS + 5_000,
    label: server,
  });
  const urlOf = (server: "hotpath" | "plain") => (server === "hotpath" ? stack.url : plain.url);

  const measured: Measured[] = [];
  for (const c of cases) {
    // The first calls load sessions and compile: answers are compared there, then warmed up.
    const answers = { hotpath: await answerOf(urlOf("hotpath"), specFor(c, "hotpath")), plain: await answerOf(urlOf("plain"), specFor(c, "plain")) };
    const agents = { hotpath: newAgent(1), plain: newAgent(1) };
    for (let i = 0; i < warmup; i++) for (const server of ["hotpath", "plain"] as const) await send(urlOf(server), agents[server], specFor(c, server));
    log(`functions: ${c.what}: ${sequential[c.name]} interleaved pairs, one at a time`);
    const runs: { hotpath: Outcome[]; plain: Outcome[] } = { hotpath: [], plain: [] };
    for (let i = 0; i < sequential[c.name]; i++) {
      if (signal.aborted) throw new Error("aborted");
      const order = i % 2 === 0 ? (["hotpath", "plain"] as const) : (["plain", "hotpath"] as const);
      for (const server of order) runs[server].push(await send(urlOf(server), agents[server], specFor(c, server)));
    }
    agents.hotpath.destroy();
    agents.plain.destroy();
    const throughput = { hotpath: 0, plain: 0 };
    for (const server of ["hotpath", "plain"] as const) {
      const loop = await closedLoop({
        signal,
        baseUrl: urlOf(server),
        concurrency: THROUGHPUT_CONCURRENCY,
        durationMs: loopMs,
        maxRequests: 10_000,
        next: () => specFor(c, server),
      });
      throughput[server] = (loop.outcomes.filter((o) => o.status === 200).length * 1000) / loop.elapsedMs;
      log(`functions: ${c.what}: ${server} at c=${THROUGHPUT_CONCURRENCY}: ${throughput[server].toFixed(1)} calls/s`);
    }
    measured.push({ case: c.name, what: c.what, answers, runs, throughput });
  }

  const vadAnswer = measured.find((m) => m.case === "vad")!.answers.hotpath;
  const streamSeconds = quick ? 5 : VAD_SECONDS;
  const pcm = speechClip(streamSeconds);
  const expected = (await answerOf(stack.url, { ...specFor(cases[0]!, "hotpath"), body: wavFile(pcm) })) as { segments?: unknown };
  const before = await stack.hostCounters("silero-vad");
  log(`functions: live streams of ${streamSeconds} s, doubling until one falls behind by more than ${STREAM_BOUND_MS} ms`);
  const streams = await streamSteps({
    baseUrl: stack.url,
    key,
    pcm,
    expectedSegments: expected.segments,
    steps: quick ? [1, 4, 16] : [1, 2, 4, 8, 16, 32, 64],
    boundMs: STREAM_BOUND_MS,
    budgetMs: quick ? 45_000 : 240_000,
    log,
    signal,
  });
  const after = await stack.hostCounters("silero-vad");
  return report({
    quick,
    measured,
    streams,
    streamSeconds,
    streamBoundMs: STREAM_BOUND_MS,
    streamBatches: {
      batches: after.batches - before.batches,
      batchedRequests: after.batchedRequests - before.batchedRequests,
      admitted: after.admitted - before.admitted,
    },
    vadAnswer,
    targetVadRatio: TARGET_VAD_RATIO,
    concurrency: THROUGHPUT_CONCURRENCY,
    deadlineMs: DEADLINE_MS,
  });
};

/** One call's JSON answer (an Error when it was not a 200). */
async function answerOf(baseUrl: string, spec: RequestSpec): Promise<unknown> {
  const response = await fetch(`${baseUrl}${spec.path}`, {
    method: "POST",
    headers: spec.headers,
    body: spec.body,
    signal: AbortSignal.timeout(spec.timeoutMs + 30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${spec.label} POST ${spec.path}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}
