/**
 * @module A request's deadline at the edge: its tier's default, or shorter when the client asks
 * (protocol/deadline.ts), never past the tier's maximum. A function may need a longer default
 * than its caller's tier gives (functionDefaultMs).
 */
import type { TierConfig } from "../../config/tiers.ts";
import { timeoutBudgetMs } from "../../protocol/deadline.ts";

export interface Deadline {
  /** Absolute, epoch milliseconds. */
  at: number;
  budgetMs: number;
}

export function deadlineFor(
  tier: TierConfig,
  arrivedAt: number,
  parameters: Record<string, unknown>,
  header: string | undefined,
  defaultMs = tier.defaultDeadlineMs,
): Deadline {
  const budgetMs = timeoutBudgetMs(parameters, header, { defaultMs, maxMs: tier.maxDeadlineMs });
  return { at: arrivedAt + budgetMs, budgetMs };
}

/**
 * The deadline of a function call that asks for none: the longer of the tier's default and the
 * function's own, never past the tier's maximum.
 * @example functionDefaultMs(TIERS.premium, 3_000) // 3000; functionDefaultMs(TIERS.premium, undefined) // 1000
 */
export function functionDefaultMs(tier: TierConfig, functionDeadlineMs: number | undefined): number {
  return Math.min(tier.maxDeadlineMs, Math.max(tier.defaultDeadlineMs, functionDeadlineMs ?? 0));
}
