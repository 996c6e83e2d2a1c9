/**
 * @module A request's deadline at the edge: its tier's default, or shorter when the client asks
 * (protocol/deadline.ts), never past the tier's maximum.
 */
import type { TierConfig } from "../../config/tiers.ts";
import { timeoutBudgetMs } from "../../protocol/deadline.ts";

export interface Deadline {
  /** Absolute, epoch milliseconds. */
  at: number;
  budgetMs: number;
}

export function deadlineFor(tier: TierConfig, arrivedAt: number, parameters: Record<string, unknown>, header: string | undefined): Deadline {
  const budgetMs = timeoutBudgetMs(parameters, header, { defaultMs: tier.defaultDeadlineMs, maxMs: tier.maxDeadlineMs });
  return { at: arrivedAt + budgetMs, budgetMs };
}
