/**
 * @module The overload scenarios' parameters (model, rows per request, tier mix, tenants, load
 * levels, target) and the shapes of their measurements, shared by the scenario (overload.ts), its
 * report (overload-report.ts) and the cost scenario (cost.ts).
 */
import type { Tier } from "../../config/tiers.ts";
import { mlpNarrowRows, type Body } from "./bodies.ts";
import type { Outcome } from "./load.ts";
import type { Summary } from "./stats.ts";

export const MODEL = "mlp-narrow";
export const MODEL_FILE = "mlp-narrow.onnx";
export const ROWS = 96;
/** One overload request: ROWS rows of MODEL, binary both ways. */
export const overloadBody = (): Body => mlpNarrowRows(ROWS);
/**
 * Share of requests per tier. Premium is kept at a fifth so that even at 4x capacity premium
 * alone asks for 0.8x: with a third each, premium alone would be 1.33x capacity at 4x and no
 * scheduler could serve it all.
 */
export const MIX: Record<Tier, number> = { premium: 0.2, standard: 0.3, free: 0.5 };
/**
 * Tenants per tier, so that per-tenant rate limits (free: 10/s, burst 20) stay out of the way
 * up to 4x and the scheduler, not the limiter, decides who is served.
 */
export const TENANTS: Record<Tier, number> = { premium: 2, standard: 4, free: 24 };
export const LEVELS = [1, 2, 4] as const;
export type Level = (typeof LEVELS)[number];
export const TIER_ORDER: Tier[] = ["premium", "standard", "free"];
/** Target: premium p99 within its deadline at 4x, with at least this share served. */
export const TARGET_PREMIUM_SERVED = 0.999;

export type Policy = "tiered" | "fifo";

export interface Sample {
  t: number;
  queued: number;
  backlogMs: number;
}

export interface Run {
  policy: Policy;
  level: number;
  ratePerSecond: number;
  elapsedMs: number;
  /** The time arrivals were sent (the level's duration, or less when the loop stopped early): rates are over it. */
  arrivalMs: number;
  lagP99Ms: number;
  outcomes: Outcome[];
  samples: Sample[];
  byTier: Record<
    Tier,
    Summary & { withinDeadline: number; offeredRps: number; routerP50: number; routerP99: number; hostQueueP50: number; hostQueueP99: number }
  >;
  counters: Record<string, number>;
}

/**
 * Where the router runs relative to the ModelHost: `split`, two `wrangler dev` sessions (router in
 * one, the Durable Object in the other, as production keeps them apart: see split-stack.ts), or
 * `one-session`, the default `wrangler dev` where one thread runs both.
 */
export type Topology = "split" | "one-session";

/** `overload` is the split topology (what the 4x target is judged on); the other is named for its topology. */
export const scenarioName = (topology: Topology): string => (topology === "split" ? "overload" : `overload-${topology}`);
