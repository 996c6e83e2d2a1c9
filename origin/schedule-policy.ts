/**
 * @module A request's place in the origin's queue, from the OIP `schedule_policy` parameters the
 * edge (or any OIP client, e.g. one written for Triton) sends: `parameters.priority` (lower runs
 * first; 0 or absent means the default, as in Triton) and `parameters.timeout` in microseconds;
 * the tenant comes from the `x-hotpath-tenant` header the edge sets, for fair share inside a
 * priority. The `x-hotpath-timeout-ms` header is honoured as at the edge, so a forwarded body
 * needs no rewriting; the shorter deadline wins.
 */
import { badRequest } from "../protocol/errors.ts";
import { timeoutBudgetMs } from "../protocol/deadline.ts";
import { describeValue } from "../protocol/oip/json-tensor.ts";
import { TENANT_HEADER } from "../protocol/headers.ts";

export const DEFAULT_TENANT = "anonymous";

export interface SchedulePolicy {
  priority: number;
  /** Absolute deadline, epoch milliseconds. */
  deadline: number;
  tenant: string;
}

export interface PolicyDefaults {
  priority: number;
  timeoutMs: number;
  maxTimeoutMs: number;
}

/**
 * @example
 * schedulePolicy({ priority: 1, timeout: 250_000 }, {}, 1_000, { priority: 2, timeoutMs: 10_000, maxTimeoutMs: 60_000 })
 * // { priority: 1, deadline: 1_250, tenant: "anonymous" }
 */
export function schedulePolicy(
  parameters: Record<string, unknown>,
  headers: { tenant?: string | undefined; timeoutMs?: string | undefined },
  arrivedAt: number,
  defaults: PolicyDefaults,
): SchedulePolicy {
  const { priority } = parameters;
  if (priority !== undefined && (typeof priority !== "number" || !Number.isSafeInteger(priority) || priority < 0)) {
    throw badRequest(`parameters.priority must be a non-negative integer (lower runs first), got ${describeValue(priority)}`);
  }
  const budgetMs = timeoutBudgetMs(parameters, headers.timeoutMs, { defaultMs: defaults.timeoutMs, maxMs: defaults.maxTimeoutMs });
  const tenant = headers.tenant?.trim() || DEFAULT_TENANT;
  if (tenant.length > 128) throw badRequest(`${TENANT_HEADER} must be at most 128 characters`);
  return { priority: priority || defaults.priority, deadline: arrivedAt + budgetMs, tenant };
}
