/**
 * @module A WAV body to the 16 kHz mono samples Silero takes: parsed by wavefile (RIFF chunks,
 * format, PCM samples), channels averaged, resampled by wavefile's resampler (cubic, with its FIR
 * low-pass filter against aliasing, see RESAMPLING). Everything wrong with the file is a 400 that says what:
 * not a WAV, truncated, not 16-bit PCM, an odd sample rate, no samples; longer than a job takes
 * is a 413. The size is checked from the header before any sample is unpacked, so a long file
 * costs no memory before it is refused.
 */
import { WaveFile } from "wavefile";
import { resample } from "wavefile/lib/resampler/index.js";
import { badRequest, payloadTooLarge } from "../../protocol/errors.ts";
import { MAX_VAD_SAMPLES, VAD_SAMPLE_RATE } from "./silero.ts";

/** Rates from telephone (8 kHz) to studio (96 kHz). */
const MIN_RATE = 8000;
const MAX_RATE = 96000;
const MAX_CHANNELS = 8;
/** WAVE_FORMAT_PCM, and WAVE_FORMAT_EXTENSIBLE (wavefile reads its PCM subformat into bitDepth). */
const PCM_FORMATS = new Set([1, 0xfffe]);
/** Data chunk sizes that mean "unknown" (streamed writers), not a length to check. */
const UNKNOWN_SIZES = new Set([0, 0xffffffff]);
/**
 * wavefile's default low-pass filter for cubic resampling is an IIR filter, whose state decays
 * into subnormal floats over digital silence (exact zeros, common between utterances), and
 * arithmetic on subnormals is slow: 600 ms for 7.6 s of 44.1 kHz speech with pauses, against
 * 80 ms with its FIR filter (71 taps, whose output over zeros is exactly zero).
 */
const RESAMPLING = { method: "cubic", LPF: true, LPFType: "FIR" } as const;

interface WavFormat {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  blockAlign: number;
}

export interface DecodedAudio {
  /** Mono, 16 kHz, in [-1, 1). */
  samples: Float32Array;
  /** Seconds of audio in the file. */
  duration: number;
}

export function decodeWav(body: Uint8Array): DecodedAudio {
  if (body.length === 0) throw badRequest("the body is empty: send a WAV file");
  const wav = parse(body);
  const format = wav.fmt as WavFormat;
  const data = wav.data as { chunkSize: number; samples: Uint8Array };
  if (!PCM_FORMATS.has(format.audioFormat) || wav.bitDepth !== "16") {
    throw badRequest(`the WAV must be 16-bit PCM, got format ${format.audioFormat} with ${wav.bitDepth}-bit samples`);
  }
  const { numChannels: channels, sampleRate } = format;
  if (!(channels >= 1 && channels <= MAX_CHANNELS)) throw badRequest(`the WAV has ${channels} channels; 1 to ${MAX_CHANNELS} are taken`);
  if (!(sampleRate >= MIN_RATE && sampleRate <= MAX_RATE))
    throw badRequest(`the WAV's sample rate is ${sampleRate} Hz; ${MIN_RATE} to ${MAX_RATE} Hz are taken`);
  const present = data.samples.length;
  if (present < data.chunkSize && !UNKNOWN_SIZES.has(data.chunkSize)) {
    throw badRequest(`the WAV is truncated: its header declares ${data.chunkSize} bytes of samples, ${present} are present`);
  }
  const frames = Math.floor(present / (2 * channels));
  if (frames === 0) throw badRequest("the WAV has no samples");
  if (frames * 2 * channels !== present)
    throw badRequest(`the WAV is truncated: ${present} bytes of samples is not a whole number of ${channels}-channel frames`);
  const duration = frames / sampleRate;
  if (Math.ceil(duration * VAD_SAMPLE_RATE) > MAX_VAD_SAMPLES) {
    throw payloadTooLarge(`the audio is ${duration.toFixed(1)} s long; vad takes at most ${MAX_VAD_SAMPLES / VAD_SAMPLE_RATE} s per request`);
  }
  const mono = mixDown(wav.getSamples(true, Float32Array) as unknown as Float32Array, channels);
  const samples = sampleRate === VAD_SAMPLE_RATE ? mono : Float32Array.from(resample(mono, sampleRate, VAD_SAMPLE_RATE, RESAMPLING));
  return { samples, duration };
}

function parse(body: Uint8Array): WaveFile {
  try {
    return new WaveFile(body);
  } catch (error) {
    // wavefile's reasons ("Not a supported format.", "Could not find the "data" chunk") are about the file: fit to repeat.
    throw badRequest(`the body is not a readable WAV file: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Interleaved 16-bit sample values to their mean per frame, scaled to [-1, 1). */
function mixDown(interleaved: Float32Array, channels: number): Float32Array {
  const frames = interleaved.length / channels;
  const mono = new Float32Array(frames);
  const scale = 1 / (32768 * channels);
  for (let frame = 0, at = 0; frame < frames; frame++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += interleaved[at++]!;
    mono[frame] = sum * scale;
  }
  return mono;
}
