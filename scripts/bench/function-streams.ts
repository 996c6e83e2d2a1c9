/**
 * @module Live `vad` streams for the functions benchmark: how many 16 kHz streams one host keeps
 * up with in real time. Each stream is a WebSocket (`/v1/functions/vad/stream`, Node's global
 * WebSocket, the key as the `bearer.<key>` subprotocol beside `hotpath.v1`) that sends the clip in
 * 32 ms messages paced by the clock, then `{"type":"end"}`. A stream keeps up when every speech
 * event and the final `done` arrive within a bound of the moment the audio that decides them was
 * sent: a speech_start with the window it starts in, a speech_end with the window that completes
 * `min_silence_ms` of silence after it, `done` after `end`. The number of streams doubles until
 * one falls behind, fails, or the time budget is spent.
 */
import { CLIP_RATE, STREAM_CHUNK_SAMPLES, streamChunks } from "./function-media.ts";
import { sleep } from "./context.ts";

/** vad's default min_silence_ms, in windows rounded up: a speech_end is known this many windows after its time. */
const END_DELAY_WINDOWS = Math.ceil((CLIP_RATE * 0.1) / STREAM_CHUNK_SAMPLES);
const CHUNK_MS = (STREAM_CHUNK_SAMPLES / CLIP_RATE) * 1000;

export interface StreamRun {
  /** Why it did not finish (refused, error message, closed, timeout); undefined when it did. */
  failure: string | undefined;
  /** `done` after `end`, ms. */
  doneLagMs: number;
  /** The latest speech event against the send time of the audio that decides it, ms. */
  eventLagMaxMs: number;
  events: number;
  /** How late the client itself sent its messages at worst (a saturated client shows here), ms. */
  clientLateMaxMs: number;
  segments: unknown;
}

export interface StreamStep {
  streams: number;
  keptUp: number;
  failed: number;
  doneLagP50Ms: number;
  doneLagMaxMs: number;
  eventLagMaxMs: number;
  clientLateMaxMs: number;
  /** Streams whose `done` segments equal the POST's for the same audio. */
  sameAsPost: number;
  failures: string[];
}

export interface StreamOptions {
  baseUrl: string;
  key: string;
  pcm: Int16Array;
  /** The POST's segments for the same audio. */
  expectedSegments: unknown;
  steps: readonly number[];
  boundMs: number;
  budgetMs: number;
  log: (line: string) => void;
  signal: AbortSignal;
}

export async function streamSteps(options: StreamOptions): Promise<StreamStep[]> {
  const chunks = streamChunks(options.pcm);
  const url = `${options.baseUrl.replace(/^http/, "ws")}/v1/functions/vad/stream?sample_rate=${CLIP_RATE}`;
  const stopAt = performance.now() + options.budgetMs;
  const results: StreamStep[] = [];
  for (const streams of options.steps) {
    if (options.signal.aborted || performance.now() + chunks.length * CHUNK_MS + 5_000 > stopAt) break;
    // Streams start spread over one window, as independent speakers would, from one shared moment.
    const startAt = performance.now() + 1_000;
    const runs = await Promise.all(
      Array.from({ length: streams }, (_, i) => oneStream(url, options.key, chunks, startAt + (i * CHUNK_MS) / streams, options.boundMs, options.signal)),
    );
    const step = summarise(streams, runs, options);
    results.push(step);
    options.log(
      `functions: ${streams} live streams: ${step.keptUp} kept up, ${step.failed} failed; done lag p50 ${step.doneLagP50Ms.toFixed(0)} ms, max ${step.doneLagMaxMs.toFixed(0)} ms; event lag max ${step.eventLagMaxMs.toFixed(0)} ms`,
    );
    if (step.keptUp < streams) break;
    await sleep(500); // the previous streams' slots and sockets close
  }
  return results;
}

function summarise(streams: number, runs: StreamRun[], options: StreamOptions): StreamStep {
  const finished = runs.filter((r) => r.failure === undefined);
  const keptUp = finished.filter((r) => r.doneLagMs <= options.boundMs && r.eventLagMaxMs <= options.boundMs).length;
  const doneLags = finished.map((r) => r.doneLagMs).sort((a, b) => a - b);
  const expected = JSON.stringify(options.expectedSegments);
  return {
    streams,
    keptUp,
    failed: runs.length - finished.length,
    doneLagP50Ms: doneLags[Math.floor((doneLags.length - 1) / 2)] ?? Number.NaN,
    doneLagMaxMs: doneLags.at(-1) ?? Number.NaN,
    eventLagMaxMs: Math.max(...finished.map((r) => r.eventLagMaxMs), Number.NEGATIVE_INFINITY),
    clientLateMaxMs: Math.max(...runs.map((r) => r.clientLateMaxMs), 0),
    sameAsPost: finished.filter((r) => JSON.stringify(r.segments) === expected).length,
    failures: [...new Set(runs.flatMap((r) => (r.failure ? [r.failure] : [])))].slice(0, 3),
  };
}

/** One stream: open, wait for `startAt`, send the chunks on the clock, `end`, wait for `done`. Never rejects. */
async function oneStream(url: string, key: string, chunks: Uint8Array[], startAt: number, boundMs: number, signal: AbortSignal): Promise<StreamRun> {
  const run: StreamRun = { failure: undefined, doneLagMs: Number.NaN, eventLagMaxMs: 0, events: 0, clientLateMaxMs: 0, segments: undefined };
  const sentAt: number[] = [];
  let endSentAt = Number.NaN;
  const ws = new WebSocket(url, ["hotpath.v1", `bearer.${key}`]);
  ws.binaryType = "arraybuffer";
  let settle: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const fail = (why: string) => {
    run.failure ??= why;
    settle();
  };
  const opened = new Promise<boolean>((resolve) => {
    ws.addEventListener("open", () => resolve(true), { once: true });
    ws.addEventListener("error", () => resolve(false), { once: true });
  });
  ws.addEventListener("close", (event) => Number.isNaN(run.doneLagMs) && fail(`closed ${event.code}${event.reason ? ` ${event.reason}` : ""} before done`));
  ws.addEventListener("message", (event) => {
    const now = performance.now();
    if (typeof event.data !== "string") return fail("a binary message from the server");
    const message = JSON.parse(event.data) as { type: string; t?: number; error?: string; segments?: unknown };
    if (message.type === "speech_start" || message.type === "speech_end") {
      const window = Math.round(((message.t ?? 0) * CLIP_RATE) / STREAM_CHUNK_SAMPLES) + (message.type === "speech_end" ? END_DELAY_WINDOWS : 0);
      // Speech still under way at the end is closed by the flush: decided by `end`.
      const decidedAt = sentAt[window] ?? endSentAt;
      run.events++;
      run.eventLagMaxMs = Math.max(run.eventLagMaxMs, now - decidedAt);
    } else if (message.type === "done") {
      run.doneLagMs = now - endSentAt;
      run.segments = message.segments;
      settle();
    } else fail(`${message.type}: ${message.error ?? ""}`.slice(0, 160));
  });
  const timeout = setTimeout(() => fail("timed out"), startAt - performance.now() + chunks.length * CHUNK_MS + 10_000 + boundMs);
  try {
    if (!(await opened)) return { ...run, failure: "refused or unreachable (the upgrade failed)" };
    for (let k = 0; k < chunks.length; k++) {
      const due = startAt + k * CHUNK_MS;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (run.failure !== undefined || signal.aborted) break;
      sentAt[k] = performance.now();
      run.clientLateMaxMs = Math.max(run.clientLateMaxMs, sentAt[k]! - due);
      ws.send(chunks[k]!);
    }
    if (run.failure === undefined && !signal.aborted) {
      endSentAt = performance.now();
      ws.send(JSON.stringify({ type: "end" }));
      await settled;
    }
  } finally {
    clearTimeout(timeout);
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  }
  if (signal.aborted) run.failure ??= "aborted";
  return run;
}
