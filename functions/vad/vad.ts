/**
 * @module `vad`: speech segments in a WAV clip. The body is decoded and resampled in the router
 * (wav.ts); the ~31 Silero runs per second of audio, each carrying the recurrent state of the one
 * before, run as one job inside the ModelHost next to the warm session (silero.ts), so a 10 s
 * clip is one call to the host, not 310; the per-window probabilities come back and become
 * segments here (segments.ts). Defaults are Silero's own.
 */
import { defineFunction } from "../contract.ts";
import type { OptionSpecs } from "../options.ts";
import { sileroVadLoop } from "./silero.ts";
import { seconds, speechSegments, type Segment, type VadOptions } from "./segments.ts";
import { decodeWav, type DecodedAudio } from "./wav.ts";

export interface VadAnswer {
  segments: Segment[];
  /** Share of the clip inside segments, 0 to 1. */
  speech_ratio: number;
  /** Seconds. */
  duration: number;
}

/** The options, with Silero's own defaults: the POST's query parameters and the live stream's. */
export const VAD_OPTIONS: OptionSpecs<VadOptions> = {
  threshold: { type: "number", default: 0.5, min: 0.01, max: 0.99, description: "speech starts at a window with at least this probability" },
  min_silence_ms: { type: "integer", default: 100, min: 0, max: 10_000, description: "silence that ends a segment" },
  min_speech_ms: { type: "integer", default: 250, min: 0, max: 10_000, description: "shorter segments are dropped" },
  speech_pad_ms: { type: "integer", default: 30, min: 0, max: 1_000, description: "padding on both sides of a segment" },
};

export const vad = defineFunction<VadOptions & Record<string, number>, DecodedAudio, Float32Array>({
  name: "vad",
  description: "Speech segments in a WAV clip (16-bit PCM, any common rate, stereo mixed down) with Silero VAD v5.",
  accepts: ["audio/wav", "audio/x-wav", "audio/wave"],
  models: [sileroVadLoop.model],
  options: VAD_OPTIONS,
  decode: (body) => decodeWav(body),
  run: (audio, context) => context.job(sileroVadLoop, { samples: audio.samples }),
  post: (probabilities, audio, options) => vadAnswer(speechSegments(probabilities, audio.samples.length, options), audio.samples.length, audio.duration),
});

/** The answer for `segments` of `samples16k` samples at 16 kHz from `durationS` seconds of audio: the POST's and the live stream's `done`. */
export function vadAnswer(segments: Segment[], samples16k: number, durationS: number): VadAnswer {
  const speech = segments.reduce((sum, s) => sum + s.end - s.start, 0);
  const ratioOver = seconds(samples16k);
  return { segments, speech_ratio: ratioOver > 0 ? Number((speech / ratioOver).toFixed(3)) : 0, duration: Number(durationS.toFixed(3)) };
}
