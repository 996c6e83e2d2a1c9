/**
 * @module Series names as the Prometheus text format writes them: `name{label="value",...}`, the
 * label values escaped (backslash, double quote, newline), so a key is also its line.
 */

export type Labels = Record<string, string>;

/** `name{a="1",b="2"}`, labels in the order given (callers keep one order per metric). */
export function seriesKey(name: string, labels: Labels): string {
  let key = name;
  let first = true;
  // A loop and a test before escaping: every request builds a handful of these keys.
  for (const label in labels) {
    key += `${first ? "{" : ","}${label}="${escapeLabelValue(labels[label]!)}"`;
    first = false;
  }
  return first ? key : `${key}}`;
}

/** A series key with its metric name replaced by `name + suffix` and `extra` labels appended (histogram `_bucket{...,le=}`). */
export function withSuffix(key: string, suffix: string, extra = ""): string {
  const brace = key.indexOf("{");
  const name = brace < 0 ? key : key.slice(0, brace);
  const labels = brace < 0 ? "" : key.slice(brace + 1, -1);
  const all = [labels, extra].filter((part) => part !== "").join(",");
  return all === "" ? `${name}${suffix}` : `${name}${suffix}{${all}}`;
}

const NEEDS_ESCAPE = /[\\"\n]/;

function escapeLabelValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value as the text format writes it. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
