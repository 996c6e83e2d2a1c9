/**
 * @module `vad`: speech segments in a WAV clip. The body is decoded and resampled in the router
 * (wav.ts); the ~31 Silero runs per second of audio, each carrying the recurrent state of the one
 * before, run as one job inside the ModelHost next to the warm session (silero.ts), so a 10 s
 * clip is one call to the host, not 310; the per-window probabilities come back and become
 * segments here (segments.ts). Defaults are Silero's own.
 */
import { defineFunction } from "../contract.ts";
import { sileroVadLoop } from "./silero.ts";
import { VAD_OPTIONS, vadAnswer } from "./answer.ts";
import { speechSegments, type VadOptions } from "./segments.ts";
import { decodeWav, type DecodedAudio } from "./wav.ts";

export const vad = defineFunction<VadOptions & Record<string, number>, DecodedAudio, Float32Array>({
  name: "vad",
  description: "Speech segments in a WAV clip (16-bit PCM, any common rate, stereo mixed down) with Silero VAD v5.",
  accepts: ["audio/wav", "audio/x-wav", "audio/wave"],
  // A clip of the longest 60 s is ~1,900 sequential Silero runs: about a second warm on this
  // project's 2-core machine, several on a busy host, so premium's 1 s default would refuse
  // long clips. Five seconds is every tier's maximum or under it.
  defaultDeadlineMs: 5_000,
  models: [sileroVadLoop.model],
  options: VAD_OPTIONS,
  decode: (body) => decodeWav(body),
  run: (audio, context) => context.job(sileroVadLoop, { samples: audio.samples }),
  post: (probabilities, audio, options) => vadAnswer(speechSegments(probabilities, audio.samples.length, options), audio.samples.length, audio.duration),
});
