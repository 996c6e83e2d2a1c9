/**
 * @module The vad function's audio: binary messages of PCM s16le mono, cut anywhere (an odd byte
 * count leaves half a sample, carried into the next message), and the resampler that brings any
 * rate to the 16 kHz Silero takes, for live streams and whole clips (wav.ts) alike. It is a
 * windowed-sinc low-pass on absolute sample indices, so its output does not depend on how the
 * audio was chunked. Its kernel is not computed per tap: common rates read it from per-phase rows
 * (48 kHz has one phase, 44.1 kHz 160), others from an interpolated table, so a minute of 96 kHz
 * stereo costs the router about 0.2-0.3 s of CPU (wavefile's cubic resampler took 1.7 s).
 * The state is plain data, which the stream's Durable Object stores to survive hibernation.
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

/** Output samples at 16 kHz for `inputs` samples at `rate` (the last one starting before the input ends). */
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
  const kernel = kernelFor(rate);
  const { half } = kernel;
  const step = rate / VAD_SAMPLE_RATE;
  const last = final ? resampledLength(state.seen, rate) : Number.POSITIVE_INFINITY;
  const available = state.base + all.length;
  // At most this many outputs are complete (every input they reach has arrived), or all when final.
  const room = final ? last - state.next : Math.ceil((available - half) / step) - state.next + 1;
  const out = new Float32Array(Math.max(0, room));
  let made = 0;
  for (; made < out.length; made++) {
    const j = state.next + made;
    const centre = Math.floor((j * kernel.up) / kernel.down);
    if (!final && centre + half >= available) break;
    // Inputs centre-half+1 .. centre+half, less those before the stream or past its end (zeros).
    const first = centre - half + 1;
    const to = Math.min(centre + half, available - 1);
    let sum = 0;
    if (kernel.rows) {
      const row = ((j * kernel.up) % kernel.down) * 2 * half - first;
      for (let k = Math.max(first, state.base); k <= to; k++) sum += all[k - state.base]! * kernel.rows[row + k]!;
    } else {
      const at = j * step;
      for (let k = Math.max(first, state.base); k <= to; k++) {
        const position = Math.abs(at - k) * TABLE_STEPS;
        const i = Math.floor(position);
        const low = kernel.table[i]!;
        sum += all[k - state.base]! * (low + (position - i) * (kernel.table[i + 1]! - low));
      }
    }
    out[made] = sum;
  }
  state.next += made;
  const keepFrom = Math.max(0, Math.floor(state.next * step) - half + 1 - state.base);
  state.pending = all.slice(keepFrom);
  state.base += keepFrom;
  return made === out.length ? out : out.slice(0, made);
}

/** Points of the kernel table per input sample: its linear steps are then far below 16-bit noise. */
const TABLE_STEPS = 512;
/**
 * Phases a rate's rows may have (11.025 kHz has 640); a rate with more (an odd rate such as 8003 Hz
 * has 16,000) reads the table, which costs about 0.3 ms to build where its rows would cost 10 ms.
 */
const MAX_ROW_PHASES = 1024;

interface Kernel {
  /** Input samples on each side of an output sample that the kernel reaches. */
  half: number;
  /** Output j is centred on input j * up / down (the rate over 16 kHz, in lowest terms). */
  up: number;
  down: number;
  /**
   * One row of 2 * half coefficients per phase ((j * up) % down): for inputs centre-half+1 ..
   * centre+half. Common rates have few phases (48 kHz one, 44.1 kHz 160); the others have a table.
   */
  rows: Float32Array | undefined;
  /** Without rows: the kernel at 0, 1/TABLE_STEPS, ... half input samples from the centre, then zeros. */
  table: Float32Array;
}

/** Kernels by input rate: a stream keeps one rate, and few are in use at once. */
const kernels = new Map<number, Kernel>();
const KERNELS_KEPT = 8;

/**
 * A Hann-windowed sinc low-pass, unity gain at DC: below the input's Nyquist when downsampling
 * (against aliasing), at it when upsampling.
 */
function kernelFor(rate: number): Kernel {
  const known = kernels.get(rate);
  if (known) {
    // Most recently used last: the first entry is the one to evict.
    kernels.delete(rate);
    kernels.set(rate, known);
    return known;
  }
  const cutoff = Math.min(1, VAD_SAMPLE_RATE / rate);
  const half = Math.ceil(SINC_ZEROS / cutoff);
  const value = (x: number): number => {
    if (Math.abs(x) >= half) return 0;
    const window = 0.5 + 0.5 * Math.cos((Math.PI * x) / half);
    const arg = Math.PI * cutoff * x;
    return cutoff * window * (arg === 0 ? 1 : Math.sin(arg) / arg);
  };
  const common = gcd(rate, VAD_SAMPLE_RATE);
  const [up, down] = [rate / common, VAD_SAMPLE_RATE / common];
  let rows: Float32Array | undefined;
  let table = new Float32Array(0);
  if (down <= MAX_ROW_PHASES) {
    rows = new Float32Array(down * 2 * half);
    // Output at centre + phase/down; input k = centre-half+1+t lies phase/down + half-1-t before it.
    for (let phase = 0; phase < down; phase++) for (let t = 0; t < 2 * half; t++) rows[phase * 2 * half + t] = value(phase / down + half - 1 - t);
  } else {
    table = new Float32Array(half * TABLE_STEPS + 2);
    for (let i = 0; i < half * TABLE_STEPS; i++) table[i] = value(i / TABLE_STEPS);
  }
  if (kernels.size >= KERNELS_KEPT) kernels.delete(kernels.keys().next().value!);
  const kernel = { half, up, down, rows, table };
  kernels.set(rate, kernel);
  return kernel;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
