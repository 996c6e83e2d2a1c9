/**
 * @module `vad` on a live stream: PCM chunks in, speech events out as they happen, and at the end
 * the same answer the POST gives for the same audio. It strings together the stream's audio
 * (stream-audio.ts: the odd byte, resampling), Silero's windows with their context and recurrent
 * state (silero.ts) and the segmenter (segments.ts). Each window is one `run`, which the stream's
 * Durable Object sends to a ModelHost. Its whole state is plain data (`snapshot`), so a stream
 * resumes exactly after its Durable Object hibernated.
 */
import type { ModelRun } from "../contract.ts";
import { decodePcm, freshResampler, resampleChunk, type ResamplerState } from "./stream-audio.ts";
import { SileroWindows, VAD_SAMPLE_RATE, type SileroSnapshot } from "./silero.ts";
import { seconds, SpeechSegmenter, type SampleSpan, type SegmenterSnapshot, type SpeechEvent, type VadOptions } from "./segments.ts";
import { vadAnswer, type VadAnswer } from "./answer.ts";

export interface LiveVadSnapshot {
  carry: number | undefined;
  resampler: ResamplerState;
  silero: SileroSnapshot;
  segmenter: SegmenterSnapshot;
  /** Input samples at the stream's rate. */
  inputSamples: number;
  /** Samples at 16 kHz handed to Silero. */
  samples16k: number;
}

export class LiveVad {
  readonly #rate: number;
  readonly #windows: SileroWindows;
  readonly #segmenter: SpeechSegmenter;
  readonly #pcm: { carry: number | undefined };
  readonly #resampler: ResamplerState;
  #inputSamples: number;
  #samples16k: number;

  constructor(rate: number, options: VadOptions, run: ModelRun, from?: LiveVadSnapshot) {
    this.#rate = rate;
    this.#windows = new SileroWindows(run, from?.silero);
    this.#segmenter = from ? SpeechSegmenter.restore(options, from.segmenter) : new SpeechSegmenter(options);
    this.#pcm = { carry: from?.carry };
    this.#resampler = from ? { ...from.resampler, pending: from.resampler.pending.slice() } : freshResampler();
    this.#inputSamples = from?.inputSamples ?? 0;
    this.#samples16k = from?.samples16k ?? 0;
  }

  /** Input samples so far, the half sample waiting for its second byte included. */
  get inputSamples(): number {
    return this.#inputSamples;
  }

  /** Samples `bytes` would add: what the stream checks against its tier's bound before running anything. */
  samplesIn(bytes: number): number {
    return ((this.#pcm.carry === undefined ? 0 : 1) + bytes) >> 1;
  }

  /** One binary message; the speech starts and ends it completed, in order. */
  async push(bytes: Uint8Array): Promise<SpeechEvent[]> {
    const samples = decodePcm(bytes, this.#pcm);
    this.#inputSamples += samples.length;
    return this.#feed(this.#rate === VAD_SAMPLE_RATE ? samples : resampleChunk(this.#resampler, this.#rate, samples));
  }

  /** The end of the stream: the last partial window, then the POST's answer for all the audio, with the events that came last. */
  async finish(): Promise<{ events: SpeechEvent[]; answer: VadAnswer }> {
    const events = this.#rate === VAD_SAMPLE_RATE ? [] : await this.#feed(resampleChunk(this.#resampler, this.#rate, new Float32Array(0), true));
    for (const probability of await this.#windows.flush()) {
      const event = this.#segmenter.push(probability);
      if (event) events.push(event);
    }
    // Speech still under way at the end is closed there, so every start the client saw gets its end.
    if (this.#segmenter.snapshot().start !== undefined) events.push({ type: "speech_end", t: seconds(this.#samples16k) });
    const segments = this.#segmenter.finish(this.#samples16k);
    return { events, answer: vadAnswer(segments, this.#samples16k, this.#inputSamples / this.#rate) };
  }

  /**
   * The whole state as plain data. `withSpans` false leaves the completed speech spans out, which
   * grow with the stream (tens of thousands in an hour of choppy speech): a stream stores those
   * apart as they come (spansFrom) and puts them back into `segmenter.spans` to resume.
   */
  snapshot(withSpans = true): LiveVadSnapshot {
    return {
      carry: this.#pcm.carry,
      resampler: { ...this.#resampler, pending: this.#resampler.pending.slice() },
      silero: this.#windows.snapshot(),
      segmenter: this.#segmenter.snapshot(withSpans),
      inputSamples: this.#inputSamples,
      samples16k: this.#samples16k,
    };
  }

  /** The completed speech spans from the `index`th on, and how many there are. */
  spansFrom(index: number): SampleSpan[] {
    return this.#segmenter.spansFrom(index);
  }

  get spanCount(): number {
    return this.#segmenter.spanCount;
  }

  async #feed(samples: Float32Array): Promise<SpeechEvent[]> {
    this.#samples16k += samples.length;
    const events: SpeechEvent[] = [];
    for (const probability of await this.#windows.push(samples)) {
      const event = this.#segmenter.push(probability);
      if (event) events.push(event);
    }
    return events;
  }
}
