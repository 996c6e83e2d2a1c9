/**
 * @module The live stream's audio: binary messages of PCM s16le mono, cut anywhere (an odd byte
 * count leaves half a sample, carried into the next message), to 16 kHz samples for Silero. Rates
 * other than 16 kHz go through a windowed-sinc resampler that works on absolute sample indices,
 * so its output does not depend on how the audio was chunked; wav.ts resamples whole clips with
 * wavefile instead, which has no streaming form. Both parts keep their state as plain data, which
 * the stream's Durable Object stores to survive hibernation.
 */
import { VAD_SAMPLE_RATE } from "./silero.ts";

/** Rates a stream may declare: telephone to studio, as the POST takes. */
export const STREAM_MIN_RATE = 8000;
export const STREAM_MAX_RATE = 96000;
/** Zero crossings of the sinc on each side of an output sample, at the cut-off: wider is sharper and slower. */
const SINC_ZEROS = 8;

export interface PcmCarry {
  /** The low byte of a sample whose high byte has not arrived yet. */
  carry: number | undefined;
}

/** Bytes to samples in [-1, 1), as the WAV decoder scales them; an odd last byte waits in `state`. */
export function decodePcm(bytes: Uint8Array, state: PcmCarry): Float32Array {
  const lead = state.carry === undefined ? 0 : 1;
  const total = lead + bytes.length;
  const samples = new Float32Array(total >> 1);
  const byteAt = (k: number): number => (k < lead ? state.carry! : bytes[k - lead]!);
  for (let s = 0; s < samples.length; s++) {
    const value = byteAt(2 * s) | (byteAt(2 * s + 1) << 8);
    samples[s] = (value >= 0x8000 ? value - 0x10000 : value) / 32768;
  }
  state.carry = total % 2 === 1 ? byteAt(total - 1) : undefined;
  return samples;
}

/** What the resampler carries between chunks. */
export interface ResamplerState {
  /** Absolute index of `pending[0]` in the input. */
  base: number;
  /** Input samples still needed by outputs not yet made. */
  pending: Float32Array;
  /** Index of the next output sample. */
  next: number;
  /** Input samples seen in all. */
  seen: number;
}

export const freshResampler = (): ResamplerState => ({ base: 0, pending: new Float32Array(0), next: 0, seen: 0 });

/** Output samples at 16 kHz for `inputs` samples at `rate`: as many as wavefile gives for a whole clip. */
export const resampledLength = (inputs: number, rate: number): number => Math.floor((inputs * VAD_SAMPLE_RATE) / rate);

/**
 * Feeds `input` at `rate`; returns the 16 kHz samples it completes. With `final`, the input has
 * ended: the rest is made with zeros past the end.
 */
export function resampleChunk(state: ResamplerState, rate: number, input: Float32Array, final = false): Float32Array {
  const all = new Float32Array(state.pending.length + input.length);
  all.set(state.pending);
  all.set(input, state.pending.length);
  state.seen += input.length;
  // Below the input's Nyquist when downsampling, against aliasing; at it when upsampling.
  const cutoff = Math.min(1, VAD_SAMPLE_RATE / rate);
  const half = Math.ceil(SINC_ZEROS / cutoff);
  const step = rate / VAD_SAMPLE_RATE;
  const last = final ? resampledLength(state.seen, rate) : Number.POSITIVE_INFINITY;
  const out: number[] = [];
  for (;;) {
    const j = state.next;
    const at = j * step;
    const centre = Math.floor(at);
    if (j >= last || (!final && centre + half >= state.base + all.length)) break;
    let sum = 0;
    for (let k = centre - half + 1; k <= centre + half; k++) {
      const local = k - state.base;
      if (local < 0 || local >= all.length) continue;
      sum += all[local]! * kernel(at - k, cutoff, half);
    }
    out.push(sum);
    state.next++;
  }
  const keepFrom = Math.max(0, Math.floor(state.next * step) - half + 1 - state.base);
  state.pending = all.slice(keepFrom);
  state.base += keepFrom;
  return Float32Array.from(out);
}

/** A Hann-windowed sinc low-pass at `cutoff` (of the input's Nyquist), unity gain at DC. */
function kernel(x: number, cutoff: number, half: number): number {
  if (Math.abs(x) >= half) return 0;
  const window = 0.5 + 0.5 * Math.cos((Math.PI * x) / half);
  const arg = Math.PI * cutoff * x;
  return cutoff * window * (arg === 0 ? 1 : Math.sin(arg) / arg);
}
