/**
 * @module QoS tiers: the one typed place where an operator says what each tier gets.
 * Add a tier by adding an entry; tenants name their tier by its key. Priorities are strict:
 * a lower `priority` number is always served first (Triton's convention: 1 is the highest).
 */

export interface TierConfig {
  /** Strict priority between tiers; lower runs first. */
  priority: number;
  /** Deadline of a request that asks for none, in milliseconds. */
  defaultDeadlineMs: number;
  /** The longest deadline a client may ask for; longer requests are cut to it. */
  maxDeadlineMs: number;
  /** Sustained requests per second per tenant (token bucket refill). */
  ratePerSecond: number;
  /** Requests a tenant may send at once above its rate (token bucket size). */
  burst: number;
  /** Requests of one tenant in flight at once, per router isolate. */
  maxInFlight: number;
  /** The longest a request may wait in a ModelHost queue before it is refused (503). */
  maxQueueWaitMs: number;
  /** Whether requests of this tier may be sent to the origin pool when the edge is full. */
  maySpill: boolean;
  /**
   * Whether a request of this tier may be served by a cheaper variant of the model (int8, ...) when
   * the default cannot make its deadline or its placement is unavailable; a request that asks
   * `parameters.variant: "auto"` may be degraded whatever its tier.
   */
  mayDegrade: boolean;
  /** Largest inference body a request of this tier may send, in bytes. */
  maxBatchPayloadBytes: number;
  /** Seconds of audio one live stream may carry (`/v1/functions/vad/stream`); past it the stream is closed. */
  maxStreamSeconds: number;
  /** A live stream with no message from its client this long is closed (1001). */
  streamIdleTimeoutMs: number;
  /** Live streams a tenant may hold open at once; one more is refused with 429 before the upgrade. */
  maxConcurrentStreams: number;
}

export const TIERS = {
  premium: {
    priority: 1,
    defaultDeadlineMs: 1_000,
    maxDeadlineMs: 10_000,
    ratePerSecond: 500,
    burst: 1_000,
    maxInFlight: 256,
    maxQueueWaitMs: 1_000,
    maySpill: true,
    mayDegrade: false,
    maxBatchPayloadBytes: 16 * 1024 * 1024,
    maxStreamSeconds: 3600,
    streamIdleTimeoutMs: 60_000,
    maxConcurrentStreams: 64,
  },
  standard: {
    priority: 2,
    defaultDeadlineMs: 2_000,
    maxDeadlineMs: 10_000,
    ratePerSecond: 100,
    burst: 200,
    maxInFlight: 64,
    maxQueueWaitMs: 1_000,
    maySpill: true,
    mayDegrade: true,
    maxBatchPayloadBytes: 8 * 1024 * 1024,
    maxStreamSeconds: 600,
    streamIdleTimeoutMs: 30_000,
    maxConcurrentStreams: 16,
  },
  free: {
    priority: 3,
    defaultDeadlineMs: 3_000,
    maxDeadlineMs: 5_000,
    ratePerSecond: 10,
    burst: 20,
    maxInFlight: 8,
    maxQueueWaitMs: 500,
    maySpill: false,
    mayDegrade: true,
    maxBatchPayloadBytes: 1024 * 1024,
    maxStreamSeconds: 60,
    streamIdleTimeoutMs: 10_000,
    maxConcurrentStreams: 2,
  },
} as const satisfies Record<string, TierConfig>;

export type Tier = keyof typeof TIERS;
export const TIER_NAMES = Object.keys(TIERS) as Tier[];
/** Every tier's priority, once each: what hosts report their wait ahead for. */
export const TIER_PRIORITIES: readonly number[] = [...new Set(TIER_NAMES.map((t) => TIERS[t].priority))].sort((a, b) => a - b);

export function isTier(name: unknown): name is Tier {
  return typeof name === "string" && Object.hasOwn(TIERS, name);
}

export function tierConfig(tier: Tier): TierConfig {
  return TIERS[tier];
}
