/**
 * @module Deadlines, for the edge router and the origin alike: how long a request may take (the
 * OIP `schedule_policy` parameter `timeout` in microseconds, or the `x-hotpath-timeout-ms`
 * header; a client may shorten its deadline, never lengthen it past the maximum), and racing
 * work against it.
 */
import { badRequest, HttpError } from "./errors.ts";
import { TIMEOUT_HEADER } from "./headers.ts";
import { describeValue } from "./oip/json-tensor.ts";

/**
 * Milliseconds a request may take: the shortest it asked for, or `defaultMs`, never above `maxMs`.
 * @example timeoutBudgetMs({ timeout: 250_000 }, undefined, { defaultMs: 1_000, maxMs: 10_000 }) // 250
 */
export function timeoutBudgetMs(parameters: Record<string, unknown>, header: string | undefined, limits: { defaultMs: number; maxMs: number }): number {
  const asked: number[] = [];
  const timeoutUs = parameters.timeout;
  if (timeoutUs !== undefined) {
    if (typeof timeoutUs !== "number" || !Number.isFinite(timeoutUs) || timeoutUs <= 0) {
      throw badRequest(`parameters.timeout must be a positive number of microseconds, got ${describeValue(timeoutUs)}`);
    }
    asked.push(timeoutUs / 1000);
  }
  if (header !== undefined) {
    const ms = Number(header);
    if (!Number.isFinite(ms) || ms <= 0) throw badRequest(`${TIMEOUT_HEADER} must be a positive number of milliseconds, got '${header}'`);
    asked.push(ms);
  }
  return Math.min(limits.maxMs, ...(asked.length > 0 ? asked : [limits.defaultMs]));
}

/**
 * Settles with `work`, or rejects with a 504 at `deadlineAt` (epoch ms) if it has not settled.
 * @example await beforeDeadline(Date.now() + 500, fetch(url), "the origin did not answer in time")
 */
export async function beforeDeadline<T>(deadlineAt: number, work: Promise<T>, message = "the deadline passed before the model answered"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpError(504, message)), Math.max(0, deadlineAt - Date.now()));
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
