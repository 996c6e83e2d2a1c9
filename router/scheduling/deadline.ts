/**
 * @module A request's deadline: the tier's default, or shorter when the client asks, through the
 * OIP `schedule_policy` parameter `timeout` (microseconds) or the `x-hotpath-timeout-ms` header.
 * A client can shorten its deadline, never lengthen it past its tier's maximum.
 */
import type { TierConfig } from "../../config/tiers.ts";
import { badRequest } from "../../protocol/errors.ts";

export const TIMEOUT_HEADER = "x-hotpath-timeout-ms";

export interface Deadline {
  /** Absolute, epoch milliseconds. */
  at: number;
  budgetMs: number;
}

export function deadlineFor(tier: TierConfig, arrivedAt: number, parameters: Record<string, unknown>, header: string | undefined): Deadline {
  const asked: number[] = [];
  const timeoutUs = parameters.timeout;
  if (timeoutUs !== undefined) {
    if (typeof timeoutUs !== "number" || !Number.isFinite(timeoutUs) || timeoutUs <= 0) {
      throw badRequest(`parameters.timeout must be a positive number of microseconds, got ${JSON.stringify(timeoutUs)}`);
    }
    asked.push(timeoutUs / 1000);
  }
  if (header !== undefined) {
    const ms = Number(header);
    if (!Number.isFinite(ms) || ms <= 0) throw badRequest(`${TIMEOUT_HEADER} must be a positive number of milliseconds, got '${header}'`);
    asked.push(ms);
  }
  const budgetMs = Math.min(tier.maxDeadlineMs, ...(asked.length > 0 ? asked : [tier.defaultDeadlineMs]));
  return { at: arrivedAt + budgetMs, budgetMs };
}
