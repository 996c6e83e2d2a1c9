/**
 * @module The vad function's resampler (functions/vad/stream-audio.ts) against its definition: each
 * 16 kHz sample is the Hann-windowed sinc low-pass of the input around it, summed here directly
 * in double precision, for common rates (polyphase rows) and rates whose phases do not repeat
 * soon (the interpolated table). A WAV clip (wav.ts) resamples to exactly what the same audio
 * streamed in odd-sized messages does.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodePcm, freshResampler, resampleChunk, resampledLength } from "../../functions/vad/stream-audio.ts";
import { decodeWav } from "../../functions/vad/wav.ts";

const OUT_RATE = 16_000;
const SINC_ZEROS = 8;

/** The filter by its definition: cut-off at the lower Nyquist, 8 zero crossings each side, Hann window. */
function reference(input: Float32Array, rate: number): Float64Array {
  const cutoff = Math.min(1, OUT_RATE / rate);
  const half = Math.ceil(SINC_ZEROS / cutoff);
  const out = new Float64Array(resampledLength(input.length, rate));
  for (let j = 0; j < out.length; j++) {
    const at = (j * rate) / OUT_RATE;
    let sum = 0;
    for (let k = Math.max(0, Math.floor(at) - half + 1); k <= Math.min(input.length - 1, Math.floor(at) + half); k++) {
      const x = at - k;
      if (Math.abs(x) >= half) continue;
      const arg = Math.PI * cutoff * x;
      sum += input[k]! * cutoff * (0.5 + 0.5 * Math.cos((Math.PI * x) / half)) * (arg === 0 ? 1 : Math.sin(arg) / arg);
    }
    out[j] = sum;
  }
  return out;
}

/** Speech-like enough for a filter: two tones and a deterministic rasp. */
const signal = (length: number) => Float32Array.from({ length }, (_, k) => Math.sin(k / 7.3) * 0.4 + Math.sin(k / 1.9) * 0.3 + ((k * 7919) % 101) / 500 - 0.1);

describe("resampler", () => {
  for (const rate of [8_000, 11_025, 22_050, 44_100, 48_000, 96_000, 8_001, 95_999]) {
    test(`${rate} Hz to 16 kHz: the windowed sinc by its definition, to float precision`, () => {
      const input = signal(Math.round(rate * 0.25));
      const expected = reference(input, rate);
      const actual = resampleChunk(freshResampler(), rate, input, true);
      assert.equal(actual.length, expected.length);
      let worst = 0;
      for (let j = 0; j < actual.length; j++) worst = Math.max(worst, Math.abs(actual[j]! - expected[j]!));
      assert.ok(worst < 1e-6, `max |actual - definition| ${worst}`);
    });
  }

  for (const rate of [48_000, 44_100, 8_003]) {
    test(`a ${rate} Hz stereo WAV clip resamples to what the same audio streamed in odd-sized messages does`, () => {
      const frames = rate;
      const left = signal(frames);
      const pcm = new Int16Array(frames * 2);
      for (let f = 0; f < frames; f++) [pcm[2 * f], pcm[2 * f + 1]] = [Math.round(left[f]! * 16_000), Math.round(-left[f]! * 8_000)];
      const wav = new Uint8Array(44 + pcm.byteLength);
      const view = new DataView(wav.buffer);
      const ascii = (at: number, text: string) => [...text].forEach((ch, i) => (wav[at + i] = ch.charCodeAt(0)));
      ascii(0, "RIFF");
      view.setUint32(4, 36 + pcm.byteLength, true);
      ascii(8, "WAVEfmt ");
      view.setUint32(16, 16, true);
      [view.setUint16(20, 1, true), view.setUint16(22, 2, true), view.setUint32(24, rate, true), view.setUint32(28, rate * 4, true)];
      [view.setUint16(32, 4, true), view.setUint16(34, 16, true)];
      ascii(36, "data");
      view.setUint32(40, pcm.byteLength, true);
      wav.set(new Uint8Array(pcm.buffer), 44);

      const clip = decodeWav(wav).samples;
      // The stream takes mono: the clip's own mixdown, as s16le.
      const mono = Int16Array.from({ length: frames }, (_, f) => Math.round((pcm[2 * f]! + pcm[2 * f + 1]!) / 2));
      const bytes = new Uint8Array(mono.buffer);
      const state = freshResampler();
      const carry = { carry: undefined as number | undefined };
      const streamed: number[] = [];
      for (let at = 0, size = 3; at < bytes.length; at += size, size = (size * 5) % 997)
        streamed.push(...resampleChunk(state, rate, decodePcm(bytes.subarray(at, at + size), carry)));
      streamed.push(...resampleChunk(state, rate, new Float32Array(0), true));
      assert.equal(clip.length, 16_000);
      assert.equal(streamed.length, clip.length);
      let worst = 0;
      for (let j = 0; j < clip.length; j++) worst = Math.max(worst, Math.abs(streamed[j]! - clip[j]!));
      // Integer mean of two channels vs their exact mean: half a 16-bit step (1.5e-5) at most, times
      // the kernel's absolute sum (about 1.5 when upsampling); a wrong phase or offset is 1e-2 or more.
      assert.ok(worst < 5e-5, `max |stream - clip| ${worst}`);
    });
  }
});
