/**
 * @module Predicted `session.run` time per batch size: an exponentially weighted mean and
 * variance per observed size, and for sizes not seen yet a line through the nearest two seen
 * (run time is close to affine in batch size). Admission, batching and spilling all ask it.
 */

const ALPHA = 0.2;
/** Before anything was measured: small models run in about a millisecond here. */
const PRIOR_MS = 2;

interface Stat {
  mean: number;
  variance: number;
  count: number;
}

export interface ServiceTimeSnapshot {
  batchSize: number;
  meanMs: number;
  stdMs: number;
  samples: number;
}

export class ServiceTimePredictor {
  readonly #stats = new Map<number, Stat>();

  observe(batchSize: number, ms: number): void {
    const stat = this.#stats.get(batchSize);
    if (!stat) {
      this.#stats.set(batchSize, { mean: ms, variance: 0, count: 1 });
      return;
    }
    const delta = ms - stat.mean;
    stat.mean += ALPHA * delta;
    stat.variance = (1 - ALPHA) * (stat.variance + ALPHA * delta * delta);
    stat.count += 1;
  }

  /** Expected milliseconds for one run of `batchSize`. */
  mean(batchSize: number): number {
    const exact = this.#stats.get(batchSize);
    if (exact) return exact.mean;
    const sizes = [...this.#stats.keys()].sort((a, b) => Math.abs(a - batchSize) - Math.abs(b - batchSize) || a - b);
    const [nearest, second] = sizes;
    if (nearest === undefined) return PRIOR_MS;
    const near = this.#stats.get(nearest)!.mean;
    if (second === undefined) return (near * (1 + batchSize / nearest)) / 2; // half fixed cost, half per item
    const slope = (this.#stats.get(second)!.mean - near) / (second - nearest);
    return Math.max(near * 0.5, near + Math.max(0, slope) * (batchSize - nearest));
  }

  /** A pessimistic estimate (mean plus two standard deviations) for deadline decisions. */
  upper(batchSize: number): number {
    const stat = this.#stats.get(batchSize);
    return this.mean(batchSize) + 2 * Math.sqrt(stat?.variance ?? 0);
  }

  snapshot(): ServiceTimeSnapshot[] {
    return [...this.#stats]
      .sort(([a], [b]) => a - b)
      .map(([batchSize, s]) => ({ batchSize, meanMs: round(s.mean), stdMs: round(Math.sqrt(s.variance)), samples: s.count }));
  }
}

const round = (n: number): number => Math.round(n * 1000) / 1000;
