/**
 * @module What `vad` answers and the options it takes, shared by the POST (vad.ts) and the live
 * stream: kept apart from the WAV decoding so the stream's code (and Node tests of it) do not
 * load a decoder they do not use.
 */
import type { OptionSpecs } from "../options.ts";
import { seconds, type Segment, type VadOptions } from "./segments.ts";

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

/** The answer for `segments` of `samples16k` samples at 16 kHz from `durationS` seconds of audio: the POST's and the live stream's `done`. */
export function vadAnswer(segments: Segment[], samples16k: number, durationS: number): VadAnswer {
  const speech = segments.reduce((sum, s) => sum + s.end - s.start, 0);
  const ratioOver = seconds(samples16k);
  return { segments, speech_ratio: ratioOver > 0 ? Number((speech / ratioOver).toFixed(3)) : 0, duration: Number(durationS.toFixed(3)) };
}
