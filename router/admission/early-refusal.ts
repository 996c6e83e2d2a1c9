/**
 * @module Saying no at the router, before the body is read and before a host is called, when the
 * host's last report (less the time since) already puts more work ahead of this tier than the
 * tier may wait or than the request has time for. The host would refuse the same request; doing
 * it here spares the body's parsing and the call, which under overload is most of what a refused
 * request costs, and (under `wrangler dev`, where every part shares one thread) time the host
 * needs to serve the requests it admits. A host with a stale or no report is always asked.
 */
import type { TierConfig } from "../../config/tiers.ts";
import { timeoutBudgetMs } from "../../protocol/deadline.ts";
import { HttpError, refusal, retryAfterSecondsFor } from "../../protocol/errors.ts";

/**
 * The longest a request may take, known before its body is read: the timeout header's, or the
 * tier's maximum (the body's `parameters.timeout` may ask for anything up to it).
 */
export function budgetBeforeBodyMs(tier: TierConfig, timeoutHeader: string | undefined): number {
  return timeoutBudgetMs({}, timeoutHeader, { defaultMs: tier.maxDeadlineMs, maxMs: tier.maxDeadlineMs });
}

/**
 * Throws a 503 with Retry-After when `waitAheadMs` already rules the request out, or 504 when the
 * request's time is already spent (a short timeout header and a slow start), whatever is queued.
 */
export function refuseEarly(tierName: string, tier: TierConfig, waitAheadMs: number, budgetMs: number): void {
  if (budgetMs <= 0) throw new HttpError(504, "the deadline passed before the request reached a model");
  const limitMs = Math.min(tier.maxQueueWaitMs, budgetMs);
  if (waitAheadMs <= limitMs) return;
  throw refusal(
    503,
    `the model is busy: about ${Math.round(waitAheadMs)} ms of work is queued ahead of ${tierName} requests, more than the ${Math.round(limitMs)} ms this request may wait`,
    retryAfterSecondsFor(waitAheadMs),
    "router_early",
  );
}
