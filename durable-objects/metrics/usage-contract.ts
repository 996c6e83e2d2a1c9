/**
 * @module Per-tenant usage as it travels in a metrics batch and comes back from `GET /admin/usage`:
 * what a platform bills from. One row per UTC day, tenant and model; every figure is a sum.
 */

export interface UsageFigures {
  /** Counted requests (inferences, function calls, stream opens) that named a model the tenant may use and that exists, whatever their answer. */
  requests: number;
  /** Batch rows of the OIP inputs that passed the checks; 1 per function call or stream. */
  rows: number;
  /** The model calls' inference milliseconds, as Server-Timing's `infer` reports them. */
  inferenceMs: number;
  /** Request body bytes read. */
  bytesIn: number;
  /** Answer body bytes written. */
  bytesOut: number;
}

export interface UsageRow extends UsageFigures {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  tenant: string;
  model: string;
}

export interface UsageQuery {
  from: string;
  to: string;
  tenant?: string;
}

export interface UsageReport {
  rows: UsageRow[];
  totals: UsageFigures;
  /** True when more rows matched than one answer carries (USAGE_MAX_ROWS). */
  truncated: boolean;
}

export const USAGE_FIGURES = ["requests", "rows", "inferenceMs", "bytesIn", "bytesOut"] as const satisfies readonly (keyof UsageFigures)[];

export function noUsage(): UsageFigures {
  return { requests: 0, rows: 0, inferenceMs: 0, bytesIn: 0, bytesOut: 0 };
}
