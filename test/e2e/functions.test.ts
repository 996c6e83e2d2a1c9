/**
 * @module End to end, the functions with real processes on 127.0.0.1 (the edge under
 * `wrangler dev`, two origin servers): `vad` on the speech fixtures against the independent
 * reference, at 16 kHz and from the 44.1 kHz stereo copy; the live stream through the real
 * `wrangler dev` with Node's own WebSocket client (the browser's way: the key as a subprotocol),
 * alone and eight at once batched at the host; `ocr` with its detector on the origin pool and its
 * recogniser at the edge under one deadline; `ocr-line` exactly. After each, the service still serves.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { call } from "./harness/http.ts";
import { log } from "./harness/load.ts";
import { assertPrepared, type ModelFile } from "./harness/models.ts";
import { PoolStack } from "./harness/pool-stack.ts";
import { wavPcm } from "../workerd/wav-pcm.ts";
import { streamVad, type VadAnswer } from "./harness/vad-stream.ts";

const FILE_TIMEOUT_MS = 300_000;
const START_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 60_000;
/** Long enough for a page on a small shared machine; the deadline itself is tested in workerd. */
const CALL_DEADLINE_MS = "10000";
/** The bound between our segments and the reference's. */
const SEGMENT_TOLERANCE_S = 0.3;
const STREAMS = 8;

const hotpath = (path: string) => join(REPO_ROOT, ".hotpath", path);
const modelFile = (name: string): ModelFile => ({ name, version: "1", file: hotpath(`models/${name}/1/model.onnx`), width: 0 });
const SILERO = modelFile("silero-vad");
const REC = modelFile("ppocr-rec");
const DET = modelFile("ppocr-det");
const fixture = (name: string) => new Uint8Array(readFileSync(hotpath(`fixtures/${name}`)));

interface Reference {
  file: string;
  segments: VadAnswer["segments"];
}
interface HostCounters {
  batches: number;
  batchedRequests: number;
}

const cleanup = new Cleanup();
let stack: PoolStack;
let references: Reference[];

function referenceFor(file: string): VadAnswer["segments"] {
  const found = references.find((r) => r.file === file);
  assert.ok(found, `no reference for ${file} in vad-reference.json`);
  return found.segments;
}

function assertNearReference(segments: VadAnswer["segments"], expected: VadAnswer["segments"], what: string): void {
  assert.equal(segments.length, expected.length, `${what}: ${JSON.stringify(segments)} vs the reference ${JSON.stringify(expected)}`);
  segments.forEach((segment, k) => {
    assert.ok(Math.abs(segment.start - expected[k]!.start) <= SEGMENT_TOLERANCE_S, `${what} segment ${k} starts at ${segment.start}`);
    assert.ok(Math.abs(segment.end - expected[k]!.end) <= SEGMENT_TOLERANCE_S, `${what} segment ${k} ends at ${segment.end}`);
  });
}

async function callFunction(name: string, body: Uint8Array, contentType: string): Promise<{ response: Response; answer: unknown }> {
  const response = await call(stack.edgeUrl, `/v1/functions/${name}`, {
    method: "POST",
    key: stack.key,
    body,
    headers: { "content-type": contentType, "x-hotpath-timeout-ms": CALL_DEADLINE_MS },
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${name}: ${text}`);
  return { response, answer: JSON.parse(text) as unknown };
}

async function postVad(file: string): Promise<VadAnswer> {
  return (await callFunction("vad", fixture(file), "audio/wav")).answer as VadAnswer;
}

async function hostCounters(): Promise<HostCounters> {
  const response = await call(stack.edgeUrl, "/admin/models/silero-vad", { key: stack.adminToken });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  const hosts = (JSON.parse(text) as { hosts: { counters: HostCounters }[] }).hosts;
  return hosts.reduce((sum, { counters }) => ({ batches: sum.batches + counters.batches, batchedRequests: sum.batchedRequests + counters.batchedRequests }), {
    batches: 0,
    batchedRequests: 0,
  });
}

describe("functions end to end: vad, its live stream, ocr across two placements, ocr-line", { timeout: FILE_TIMEOUT_MS }, () => {
  before(
    async () => {
      assertPrepared(SILERO, REC, DET);
      references = JSON.parse(readFileSync(hotpath("fixtures/vad-reference.json"), "utf8")) as Reference[];
      // Eight streams keep up to eight windows at the host at once: the harness's queue of 2 would shed them.
      stack = await PoolStack.start(cleanup, { label: "functions", origins: ["o1", "o2"], vars: { HOST_MAX_QUEUE_LENGTH: "64" } });
      // As `npm start` registers them (the manifest's max_batch), except the detector, which is
      // placed on the pool here so the page's two steps run in two placements.
      await stack.upload(SILERO, { placement: "edge", maxBatch: 16 });
      await stack.upload(REC, { placement: "edge", maxBatch: 8 });
      await stack.upload(DET, { placement: "origin", maxBatch: 4 });
      await stack.waitWarm(DET, ["o1", "o2"]);
    },
    { timeout: START_TIMEOUT_MS },
  );

  after(() => cleanup.run(), { timeout: STOP_TIMEOUT_MS });

  afterEach(async () => {
    assertNearReference((await postVad("speech.wav")).segments, referenceFor("speech.wav"), "after the test, speech.wav");
  });

  test("GET /v1/functions lists vad, ocr-line and ocr", async () => {
    const response = await call(stack.edgeUrl, "/v1/functions", { key: stack.key });
    const listed = (await response.json()) as { functions: { name: string }[] };
    assert.deepEqual(listed.functions.map((f) => f.name).sort(), ["ocr", "ocr-line", "vad"]);
  });

  test("vad finds the reference's segments in the speech fixtures, none in silence or noise, and the same from the 44.1 kHz stereo copy", async () => {
    for (const file of ["speech-gaps.wav", "speech.wav", "silence.wav", "noise.wav"]) {
      assertNearReference((await postVad(file)).segments, referenceFor(file), file);
    }
    const resampled = await postVad("speech-gaps-44k-stereo.wav");
    assertNearReference(resampled.segments, referenceFor("speech-gaps.wav"), "speech-gaps-44k-stereo.wav");
  });

  test("the live stream through wrangler dev, keyed by the subprotocol bearer.<key>, ends with the POST's answer", async () => {
    const { pcm, rate } = wavPcm(fixture("speech-gaps.wav"));
    const result = await streamVad(stack.edgeUrl, stack.key, rate, pcm, 1000);
    assert.equal(result.protocol, "hotpath.v1");
    assert.equal(result.close.code, 1000, JSON.stringify(result.messages.slice(-2)));
    const events = result.messages.slice(0, -1).map((m) => m.type);
    assert.deepEqual(events, ["speech_start", "speech_end", "speech_start", "speech_end"]);
    assert.deepEqual(result.done, await postVad("speech-gaps.wav"));
  });

  test("eight concurrent streams get the answers of eight POSTs, while the host batched their windows", async () => {
    const files = ["speech-gaps.wav", "speech.wav", "silence.wav", "noise.wav"];
    const expected = await Promise.all(files.map(postVad));
    const audio = files.map((file) => wavPcm(fixture(file)));
    const before = await hostCounters();
    const results = await Promise.all(
      Array.from({ length: STREAMS }, (_, k) => streamVad(stack.edgeUrl, stack.key, audio[k % files.length]!.rate, audio[k % files.length]!.pcm, 1024 + 2 * k)),
    );
    results.forEach((result, k) => {
      assert.equal(result.close.code, 1000, `stream ${k}: ${JSON.stringify(result.messages.slice(-2))}`);
      assert.deepEqual(result.done, expected[k % files.length], `stream ${k} (${files[k % files.length]})`);
    });
    const after = await hostCounters();
    const batches = after.batches - before.batches;
    const batched = after.batchedRequests - before.batchedRequests;
    log(`${STREAMS} streams: ${batched} windows ran in ${batches} merged runs`);
    assert.ok(batches > 0, "no run merged windows of several streams");
    assert.ok(batched / batches > 2, `${batched / batches} windows per merged run`);
  });

  test("ocr reads the page in order with ppocr-det on an origin and ppocr-rec at the edge, under one deadline", async () => {
    const expected = (JSON.parse(readFileSync(hotpath("fixtures/page.json"), "utf8")) as { lines: string[] }).lines;
    const { response, answer } = await callFunction("ocr", fixture("page.png"), "image/png");
    const lines = (answer as { lines: { text: string; confidence: number }[] }).lines;
    assert.deepEqual(
      lines.map((l) => l.text),
      expected,
    );
    const servedBy = response.headers.get("x-served-by") ?? "";
    log(`ocr x-served-by: ${servedBy}; server-timing: ${response.headers.get("server-timing")}`);
    // One detection on the pool, then the five lines in one recognition run at the edge.
    assert.match(servedBy, /^origin:o[12], edge:[^,]+$/);
    assert.match(response.headers.get("server-timing") ?? "", /model;desc="ppocr-det".*model;desc="ppocr-rec"/);
  });

  test("ocr-line reads the rendered line exactly", async () => {
    const { response, answer } = await callFunction("ocr-line", fixture("textline.png"), "image/png");
    const { text, confidence } = answer as { text: string; confidence: number };
    assert.equal(text, "HOTPATH 2026");
    assert.ok(confidence > 0.9 && confidence <= 1, `confidence ${confidence}`);
    assert.match(response.headers.get("x-served-by") ?? "", /^edge:/);
  });
});
