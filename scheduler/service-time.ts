/**
 * @module Predicted `session.run` time as a function of the work in a run, measured as input
 * elements (for a fixed-shape model that is batch size times the row size; for PP-OCR it also
 * follows the line's width). Runs are grouped in quarter-octave buckets of work, each with an
 * exponentially weighted mean and variance; work between or beyond the buckets seen is
 * predicted on the line through the nearest two (run time is close to affine in work).
 * Admission, batching and spilling all ask it.
 */

const ALPHA = 0.2;
/** Before anything was measured: small models run in about a millisecond here. */
const PRIOR_MS = 2;

interface Stat {
  /** Mean work of the runs in this bucket. */
  work: number;
  mean: number;
  variance: number;
  count: number;
  /** Seeded only by a first run after a session load: the next warm run replaces it. */
  provisional: boolean;
}

export interface ServiceTimeSnapshot {
  /** Input elements per run (batch size times row size). */
  work: number;
  meanMs: number;
  stdMs: number;
  samples: number;
}

export class ServiceTimePredictor {
  readonly #stats = new Map<number, Stat>();

  /**
   * Learns one run. `firstRun` marks a fresh session's first run, which pays onnxruntime's lazy
   * setup (60 ms for silero-vad against 3 ms warm): averaged in, it would keep its bucket wrong
   * for dozens of runs. It only seeds a bucket nothing else has measured (better than the prior),
   * and the first warm run then replaces it; a bucket already measured ignores it.
   */
  observe(work: number, ms: number, firstRun = false): void {
    const bucket = bucketOf(work);
    const stat = this.#stats.get(bucket);
    if (!stat || stat.provisional) {
      if (stat && firstRun) return;
      this.#stats.set(bucket, { work, mean: ms, variance: 0, count: (stat?.count ?? 0) + 1, provisional: firstRun });
      return;
    }
    if (firstRun) return;
    const delta = ms - stat.mean;
    stat.mean += ALPHA * delta;
    stat.variance = (1 - ALPHA) * (stat.variance + ALPHA * delta * delta);
    stat.work += ALPHA * (work - stat.work);
    stat.count += 1;
  }

  /** Expected milliseconds for one run of `work` input elements. */
  mean(work: number): number {
    const [near, second] = this.#nearest(work);
    if (!near) return PRIOR_MS;
    if (Math.abs(near.work - work) <= 0.1 * work) return near.mean;
    if (!second || second.work === near.work) return near.mean * (0.5 + (0.5 * work) / near.work); // half fixed cost, half per element
    const slope = Math.max(0, (second.mean - near.mean) / (second.work - near.work));
    return Math.max(0.5 * Math.min(near.mean, second.mean), near.mean + slope * (work - near.work));
  }

  /**
   * A pessimistic estimate (mean plus two standard deviations) for deadline decisions, of one run
   * or of `runs` independent runs in a row (a job's loop: the spread grows with the square root).
   */
  upper(work: number, runs = 1): number {
    const [near] = this.#nearest(work);
    return runs * this.mean(work) + 2 * Math.sqrt(runs * (near?.variance ?? 0));
  }

  /**
   * Whether the estimate for `work` rests on warm runs of about that work: a warm bucket within 2x
   * of it, or warm buckets on both sides of it (the line between them holds), not a cold first run,
   * the prior, or a line drawn far past what was measured (two runs of 4M elements would put a
   * 576-element request at half their time). Admission refuses on other guesses only behind queued
   * work: refused work never runs, so a guess that alone refused work on an idle host would never
   * be corrected, and one tenant's huge requests would lock everyone's small ones out.
   */
  measured(work: number): boolean {
    const [near, second] = this.#nearest(work);
    if (near === undefined || near.provisional) return false;
    const target = Math.max(1, work);
    const w = Math.max(1, near.work);
    if ((w > target ? w / target : target / w) <= 2) return true;
    return second !== undefined && !second.provisional && (near.work - work) * (second.work - work) < 0;
  }

  snapshot(): ServiceTimeSnapshot[] {
    return [...this.#stats.values()]
      .sort((a, b) => a.work - b.work)
      .map((s) => ({ work: Math.round(s.work), meanMs: round(s.mean), stdMs: round(Math.sqrt(s.variance)), samples: s.count }));
  }

  /**
   * The bucket nearest to `work` on a log scale, and the next nearest. A scan, not a sort: every
   * admission and every predicted wait asks, so it must not allocate or take logarithms per bucket.
   */
  #nearest(work: number): [Stat?, Stat?] {
    const target = Math.max(1, work);
    let near: Stat | undefined;
    let second: Stat | undefined;
    let nearDistance = Number.POSITIVE_INFINITY;
    let secondDistance = Number.POSITIVE_INFINITY;
    for (const stat of this.#stats.values()) {
      // |log(a / b)| orders like max(a, b) / min(a, b).
      const w = Math.max(1, stat.work);
      const distance = w > target ? w / target : target / w;
      if (distance < nearDistance) {
        second = near;
        secondDistance = nearDistance;
        near = stat;
        nearDistance = distance;
      } else if (distance < secondDistance) {
        second = stat;
        secondDistance = distance;
      }
    }
    return [near, second];
  }
}

function bucketOf(work: number): number {
  return Math.round(Math.log2(Math.max(1, work)) * 4);
}

const round = (n: number): number => Math.round(n * 1000) / 1000;
