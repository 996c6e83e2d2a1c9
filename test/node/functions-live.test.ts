/**
 * @module The live vad stream's pure parts in Node with the real Silero on onnxruntime-node: PCM
 * cut anywhere (odd byte counts) decodes to the same samples; the resampler's output does not
 * depend on the chunking; and a LiveVad rebuilt from its stored snapshot before every message,
 * as a VadStream woken from hibernation is, gives the answer and events of one that never stopped,
 * which at 16 kHz is the POST's answer for the same audio.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import type { ModelRun } from "../../functions/contract.ts";
import { LiveVad, type LiveVadSnapshot } from "../../functions/vad/live.ts";
import { speechSegments, type SpeechEvent } from "../../functions/vad/segments.ts";
import { sileroVadLoop } from "../../functions/vad/silero.ts";
import { decodePcm, freshResampler, resampleChunk, resampledLength } from "../../functions/vad/stream-audio.ts";
import { vadAnswer } from "../../functions/vad/answer.ts";
import { createModelSession } from "../../protocol/model-session.ts";
import { readWavMono16 } from "../../scripts/make-fixtures.ts";
import { REPO_ROOT, catalogEntry, modelBytes } from "../../scripts/models/catalog.ts";

const FIXTURES = join(REPO_ROOT, ".hotpath/fixtures");
const DEFAULTS = { threshold: 0.5, min_silence_ms: 100, min_speech_ms: 250, speech_pad_ms: 30 };

/** Float samples to s16le bytes, as a client sends them. */
function pcmBytes(samples: Float32Array): Uint8Array {
  return new Uint8Array(Int16Array.from(samples, (x) => Math.round(x * 32768)).buffer);
}

/** `bytes` cut into pieces whose sizes cycle through `sizes`. */
function* chunks(bytes: Uint8Array, sizes: readonly number[]): Generator<Uint8Array> {
  for (let at = 0, k = 0; at < bytes.length; at += sizes[k++ % sizes.length]!) yield bytes.subarray(at, at + sizes[k % sizes.length]!);
}

/** 16 kHz samples at another rate, by linear interpolation: any audio at that rate will do here. */
function linearlyAt(samples16k: Float32Array, rate: number): Float32Array {
  return Float32Array.from({ length: Math.floor((samples16k.length * rate) / 16000) }, (_, k) => {
    const at = (k * 16000) / rate;
    const i = Math.floor(at);
    return samples16k[i]! + (at - i) * ((samples16k[i + 1] ?? 0) - samples16k[i]!);
  });
}

describe("stream audio", () => {
  test("PCM cut at odd byte counts decodes to the same samples as whole", () => {
    const samples = Float32Array.from({ length: 999 }, (_, k) => Math.sin(k / 7) * 0.9);
    const bytes = pcmBytes(samples);
    const whole = decodePcm(bytes, { carry: undefined });
    const carry = { carry: undefined as number | undefined };
    const parts = [...chunks(bytes, [3, 1, 7, 2, 1001])].flatMap((part) => Array.from(decodePcm(part, carry)));
    assert.deepEqual(parts, Array.from(whole));
    assert.equal(carry.carry, undefined);
  });

  for (const rate of [8000, 44100]) {
    test(`resampling ${rate} Hz gives the same 16 kHz samples however the input is chunked, and as many as a whole clip`, () => {
      const input = Float32Array.from({ length: rate }, (_, k) => Math.sin((2 * Math.PI * 440 * k) / rate) * 0.5);
      const whole = resampleChunk(freshResampler(), rate, input, true);
      assert.equal(whole.length, resampledLength(input.length, rate));
      const state = freshResampler();
      const parts: number[] = [];
      for (let at = 0, size = 1; at < input.length; at += size, size = (size * 7) % 1013)
        parts.push(...resampleChunk(state, rate, input.subarray(at, at + size)));
      parts.push(...resampleChunk(state, rate, new Float32Array(0), true));
      assert.deepEqual(parts, Array.from(whole));
      // A 440 Hz tone keeps its level through the low-pass (the middle, away from the edges).
      const middle = whole.subarray(4000, 12000);
      const rms = Math.sqrt(middle.reduce((sum, x) => sum + x * x, 0) / middle.length);
      assert.ok(Math.abs(rms - 0.5 / Math.SQRT2) < 0.01, `rms ${rms}`);
    });
  }
});

describe("LiveVad on the real Silero", async () => {
  const session = await createModelSession(ort, modelBytes(catalogEntry("silero-vad")));
  const run: ModelRun = (inputs, outputNames) => session.run(inputs, outputNames);
  const { samples } = readWavMono16(readFileSync(join(FIXTURES, "speech-gaps.wav")));
  const bytes = pcmBytes(samples);

  async function stream(rate: number, audio: Uint8Array, sizes: number[], hibernate: boolean) {
    let snapshot: LiveVadSnapshot | undefined;
    let live = new LiveVad(rate, DEFAULTS, run);
    const events: SpeechEvent[] = [];
    for (const part of chunks(audio, sizes)) {
      // structuredClone: what Durable Object storage does to the snapshot.
      if (hibernate) live = new LiveVad(rate, DEFAULTS, run, structuredClone(snapshot));
      events.push(...(await live.push(part)));
      snapshot = live.snapshot();
    }
    if (hibernate) live = new LiveVad(rate, DEFAULTS, run, structuredClone(snapshot));
    const { events: last, answer } = await live.finish();
    return { events: [...events, ...last], answer };
  }

  test("at 16 kHz, the POST's answer for the same audio, with one start and one end per segment", async () => {
    const probabilities = await sileroVadLoop.run({ samples }, run);
    const post = vadAnswer(speechSegments(probabilities, samples.length, DEFAULTS), samples.length, samples.length / 16000);
    const { events, answer } = await stream(16000, bytes, [1001, 7, 4096], false);
    assert.deepEqual(answer, post);
    assert.equal(answer.segments.length, 2);
    assert.deepEqual(
      events.map((e) => e.type),
      ["speech_start", "speech_end", "speech_start", "speech_end"],
    );
  });

  for (const rate of [16000, 44100]) {
    test(`at ${rate} Hz, rebuilt from its snapshot before every message, the answer and events of a stream that never stopped`, async () => {
      const audio = rate === 16000 ? bytes : pcmBytes(linearlyAt(samples, rate));
      const steady = await stream(rate, audio, [3001, 17], false);
      const woken = await stream(rate, audio, [3001, 17], true);
      assert.deepEqual(woken, steady);
      assert.equal(steady.answer.segments.length, 2);
    });
  }
});
