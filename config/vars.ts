/**
 * @module Reading the Worker's and the Durable Objects' string vars, failing closed. `Number(undefined)`
 * is NaN and every comparison with NaN is false, so a missing or mistyped limit used to turn
 * into no limit at all. Here a numeric var that is missing or malformed takes its safe default
 * (the value wrangler.toml ships), and a choice var with a value it does not know stops with
 * an error that names it: a typo must not quietly run something else.
 */

/** The defaults, as wrangler.toml's [vars] set them: what a missing or malformed var falls back to. */
export const VAR_DEFAULTS = {
  MAX_INFER_BODY_BYTES: 16_777_216,
  MAX_UPLOAD_BYTES: 134_217_728,
  MAX_TENSOR_ELEMENTS: 4_194_304,
  HOST_MEMORY_BUDGET_MB: 56,
  HOST_MAX_QUEUE_LENGTH: 128,
  HOST_QUEUE_BUDGET_MB: 32,
  HOST_SESSION_IDLE_MS: 600_000,
  HOST_MAX_CONCURRENT_LOADS: 1,
  REPLICA_SCALE_DOWN_AFTER_MS: 30_000,
  ROUTER_BODY_BUDGET_MB: 64,
  MAX_REPLICAS_PER_REGION: 64,
  ALERT_EVAL_INTERVAL_MS: 15_000,
  METRICS_MAX_HOSTS_PER_SCRAPE: 64,
  LOG_REQUESTS: "1",
} as const;

const warned = new Set<string>();

/**
 * A var that must be a finite number above 0 (a whole one with `integer`); anything else
 * (missing, "", "abc", "-1", "NaN", "Infinity") takes `fallback`, with one warning per value.
 *
 * @example positiveVar("HOST_MAX_QUEUE_LENGTH", env.HOST_MAX_QUEUE_LENGTH, 128, { integer: true })
 */
export function positiveVar(name: string, raw: string | undefined, fallback: number, options: { integer?: boolean } = {}): number {
  // Number("") and Number("  ") are 0, which the check below refuses anyway.
  const value = raw === undefined ? NaN : Number(raw);
  if (Number.isFinite(value) && value > 0 && (!options.integer || Number.isInteger(value))) return value;
  if (raw !== undefined) warnOnce(`${name}=${raw}`, `${name} must be a positive ${options.integer ? "integer" : "number"}, got '${raw}': using ${fallback}`);
  return fallback;
}

/** A var that names one of `choices`; missing or empty takes `fallback`, an unknown value throws. */
export function choiceVar<const T extends string>(name: string, raw: string | undefined, choices: readonly T[], fallback: T): T {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = raw.trim() as T;
  if (choices.includes(value)) return value;
  throw new Error(`${name} must be one of ${choices.join(", ")}, got '${raw}'`);
}

/** Limits are read per request: one line per bad value in the log, not one per request. */
function warnOnce(key: string, message: string): void {
  if (warned.has(key)) return;
  warned.add(key);
  console.warn(message);
}
