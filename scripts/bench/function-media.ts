/**
 * @module The functions benchmark's media, all from the fixtures `npm run models` makes: a 10 s
 * 16 kHz clip built from speech-gaps.wav (7.6 s: two utterances between silences), repeated
 * until 10 s and cut there, so `vad` gets the length the target names and the same bytes
 * every run; the text line and the page for `ocr-line` and `ocr`; and the clip as the 32 ms
 * PCM chunks a live stream sends.
 */
import { readFileSync } from "node:fs";
import { readWavMono16 } from "../make-fixtures.ts";
import { fixtureFile } from "./stack.ts";

export const CLIP_RATE = 16000;
/** Samples a live 16 kHz stream sends per message: one Silero window, 32 ms. */
export const STREAM_CHUNK_SAMPLES = 512;

export interface FunctionCase {
  name: "vad" | "ocr-line" | "ocr";
  /** What the table calls it. */
  what: string;
  contentType: string;
  body: Uint8Array;
}

/** `seconds` of speech-gaps.wav repeated end to end, as 16-bit PCM samples. */
export function speechClip(seconds: number): Int16Array {
  const { sampleRate, samples } = readWavMono16(new Uint8Array(readFileSync(fixtureFile("speech-gaps.wav"))));
  if (sampleRate !== CLIP_RATE) throw new Error(`speech-gaps.wav is ${sampleRate} Hz, want ${CLIP_RATE}`);
  const out = new Int16Array(Math.round(seconds * CLIP_RATE));
  // readWavMono16 divided each 16-bit value by 32768: multiplying back is exact.
  for (let i = 0; i < out.length; i++) out[i] = Math.round(samples[i % samples.length]! * 32768);
  return out;
}

/** A 16-bit PCM mono WAV file of `pcm` at `sampleRate`: the canonical 44-byte header, then the samples (little-endian). */
export function wavFile(pcm: Int16Array, sampleRate = CLIP_RATE): Uint8Array {
  const bytes = new Uint8Array(44 + pcm.length * 2);
  const view = new DataView(bytes.buffer);
  const tag = (at: number, text: string) => [...text].forEach((ch, k) => view.setUint8(at + k, ch.charCodeAt(0)));
  tag(0, "RIFF");
  view.setUint32(4, 36 + pcm.length * 2, true);
  tag(8, "WAVE");
  tag(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * 2, true); // bytes per second
  view.setUint16(32, 2, true); // bytes per frame
  view.setUint16(34, 16, true);
  tag(36, "data");
  view.setUint32(40, pcm.length * 2, true);
  pcm.forEach((sample, i) => view.setInt16(44 + 2 * i, sample, true));
  return bytes;
}

export function functionCases(vadSeconds: number): FunctionCase[] {
  const image = (name: string) => new Uint8Array(readFileSync(fixtureFile(name)));
  return [
    { name: "vad", what: `vad, ${vadSeconds} s clip`, contentType: "audio/wav", body: wavFile(speechClip(vadSeconds)) },
    { name: "ocr-line", what: "ocr-line, textline.png", contentType: "image/png", body: image("textline.png") },
    { name: "ocr", what: "ocr, page.png (5 lines)", contentType: "image/png", body: image("page.png") },
  ];
}

/** The clip as a live stream sends it: s16le messages of one window each (the last may be shorter). */
export function streamChunks(pcm: Int16Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < pcm.length; at += STREAM_CHUNK_SAMPLES) {
    const part = pcm.subarray(at, at + STREAM_CHUNK_SAMPLES);
    const bytes = new Uint8Array(part.length * 2);
    const view = new DataView(bytes.buffer);
    part.forEach((sample, i) => view.setInt16(2 * i, sample, true));
    chunks.push(bytes);
  }
  return chunks;
}
