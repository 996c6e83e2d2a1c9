/**
 * @module A WAV body to the 16 kHz mono samples Silero takes: its chunks located by riff-wav.ts
 * (which reads nothing but the format and where the samples are), 16-bit PCM samples mixed down
 * to mono as they are read, resampled as live streams are (stream-audio.ts: a windowed-sinc
 * low-pass, so a clip and the same audio streamed give the same samples). Everything wrong with
 * the file is a 400 that says what: not a WAV, truncated, not 16-bit PCM, an odd sample rate, no
 * samples; longer than a job takes is a 413. The size is checked from the header before any
 * sample is read, so a long file costs no memory before it is refused.
 */
import { badRequest, payloadTooLarge } from "../../protocol/errors.ts";
import { readWavLayout, UNKNOWN_DATA_SIZES } from "./riff-wav.ts";
import { MAX_VAD_SAMPLES, VAD_SAMPLE_RATE } from "./silero.ts";
import { freshResampler, resampleChunk } from "./stream-audio.ts";

/** Rates from telephone (8 kHz) to studio (96 kHz). */
const MIN_RATE = 8000;
const MAX_RATE = 96000;
const MAX_CHANNELS = 8;
const WAVE_FORMAT_PCM = 1;
export interface DecodedAudio {
  /** Mono, 16 kHz, in [-1, 1). */
  samples: Float32Array;
  /** Seconds of audio in the file. */
  duration: number;
}

export function decodeWav(body: Uint8Array): DecodedAudio {
  if (body.length === 0) throw badRequest("the body is empty: send a WAV file");
  const wav = readWavLayout(body);
  if (wav.format !== WAVE_FORMAT_PCM || wav.bitsPerSample !== 16) {
    throw badRequest(`the WAV must be 16-bit PCM, got format ${wav.format} with ${wav.bitsPerSample}-bit samples`);
  }
  const { channels, sampleRate } = wav;
  if (!(channels >= 1 && channels <= MAX_CHANNELS)) throw badRequest(`the WAV has ${channels} channels; 1 to ${MAX_CHANNELS} are taken`);
  if (wav.blockAlign !== 2 * channels) throw badRequest(`the WAV's block align is ${wav.blockAlign}; 16-bit PCM in ${channels} channels has ${2 * channels}`);
  if (!(sampleRate >= MIN_RATE && sampleRate <= MAX_RATE))
    throw badRequest(`the WAV's sample rate is ${sampleRate} Hz; ${MIN_RATE} to ${MAX_RATE} Hz are taken`);
  const present = wav.dataBytes;
  if (present < wav.declaredDataBytes && !UNKNOWN_DATA_SIZES.has(wav.declaredDataBytes)) {
    throw badRequest(`the WAV is truncated: its header declares ${wav.declaredDataBytes} bytes of samples, ${present} are present`);
  }
  const frames = Math.floor(present / wav.blockAlign);
  if (frames === 0) throw badRequest("the WAV has no samples");
  // A streamed file of unknown size may end on a partial frame (dropped); a declared size must hold whole frames.
  if (frames * wav.blockAlign !== present && !UNKNOWN_DATA_SIZES.has(wav.declaredDataBytes))
    throw badRequest(`the WAV is truncated: ${present} bytes of samples is not a whole number of ${channels}-channel frames`);
  const duration = frames / sampleRate;
  if (Math.ceil(duration * VAD_SAMPLE_RATE) > MAX_VAD_SAMPLES) {
    throw payloadTooLarge(`the audio is ${duration.toFixed(1)} s long; vad takes at most ${MAX_VAD_SAMPLES / VAD_SAMPLE_RATE} s per request`);
  }
  const mono = mixDown(new DataView(body.buffer, body.byteOffset + wav.dataOffset, frames * wav.blockAlign), channels, frames);
  const samples = sampleRate === VAD_SAMPLE_RATE ? mono : resampleChunk(freshResampler(), sampleRate, mono, true);
  return { samples, duration };
}

/** Interleaved little-endian 16-bit samples to their mean per frame, scaled to [-1, 1). */
function mixDown(samples: DataView, channels: number, frames: number): Float32Array {
  const mono = new Float32Array(frames);
  const scale = 1 / (32768 * channels);
  for (let frame = 0, at = 0; frame < frames; frame++) {
    let sum = 0;
    for (let c = 0; c < channels; c++, at += 2) sum += samples.getInt16(at, true);
    mono[frame] = sum * scale;
  }
  return mono;
}
