/**
 * @module Per-tenant rate (token bucket: the tier's rate and burst) and in-flight cap, counted in
 * this isolate's memory so the hot path makes no extra round trip. The price of that: each
 * isolate counts alone, so across isolates and regions a tenant can get up to its rate times
 * the number of isolates serving it (README, "Rate limits").
 */
import type { TierConfig } from "../../config/tiers.ts";
import { refusal } from "../../protocol/errors.ts";
import { Lru } from "../../protocol/lru.ts";
import { releasedOnAbort } from "./release-on-abort.ts";

interface Bucket {
  tokens: number;
  refilledAt: number;
  inFlight: number;
}

/**
 * Bounded, so the buckets of tenants long gone do not pile up in a long-lived isolate. An evicted
 * tenant (the least recently seen of this many) starts again from a full bucket, as it would in a
 * fresh isolate, which the limits already allow for; a request still holding a slot of an evicted
 * bucket gives it back to that bucket object, never to another tenant's.
 */
const buckets = new Lru<string, Bucket>(10_000);

/** How many tenants' buckets this isolate holds now; for tests. */
export function tenantBucketCount(): number {
  return buckets.size;
}

/**
 * Takes a token and an in-flight slot, or throws 429 with Retry-After; call the result when done.
 * `signal` (the request's) gives the slot back at once when the client goes away
 * (release-on-abort.ts): a slot kept would count against its tenant in this isolate for good.
 */
export function admitTenant(tenantId: string, tier: TierConfig, now = Date.now(), signal?: AbortSignal): () => void {
  let bucket = buckets.get(tenantId);
  if (!bucket) buckets.set(tenantId, (bucket = { tokens: tier.burst, refilledAt: now, inFlight: 0 }));
  bucket.tokens = Math.min(tier.burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * tier.ratePerSecond);
  bucket.refilledAt = now;
  if (bucket.inFlight >= tier.maxInFlight) {
    throw refusal(429, `too many requests in flight for this tenant (limit ${tier.maxInFlight})`, 1, "in_flight");
  }
  if (bucket.tokens < 1) {
    const waitSeconds = (1 - bucket.tokens) / tier.ratePerSecond;
    throw refusal(429, `rate limit of ${tier.ratePerSecond} requests/s exceeded`, waitSeconds, "rate");
  }
  bucket.tokens -= 1;
  bucket.inFlight += 1;
  const held = bucket;
  let released = false;
  return releasedOnAbort(signal, () => {
    if (released) return;
    released = true;
    held.inFlight -= 1;
  });
}

/**
 * Requests of this tenant in flight in this isolate now (its own included, once admitted): at most
 * one means it has nothing queued at a host from here, so fair share puts it ahead of the other
 * tenants' backlog (router/placement/plan.ts reads the wait of a tenant with nothing queued).
 */
export function tenantInFlight(tenantId: string): number {
  return buckets.get(tenantId)?.inFlight ?? 0;
}
