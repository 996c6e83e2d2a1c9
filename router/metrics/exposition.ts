/**
 * @module The Prometheus text exposition format 0.0.4: per family a `# HELP` and a `# TYPE`
 * line, then its samples; histogram buckets cumulative, ending with `le="+Inf"` equal to
 * `_count`. Totals come from the Metrics object, gauges from the scrape (live-gauges.ts).
 */
import type { MetricsTotals } from "../../durable-objects/metrics/contract.ts";
import { FAMILIES, type FamilyKey, type MetricFamily } from "./families.ts";
import { formatValue, seriesKey, withSuffix, type Labels } from "./series.ts";

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface GaugeSample {
  family: FamilyKey;
  labels: Labels;
  value: number;
}

export function renderExposition(totals: MetricsTotals, gauges: GaugeSample[]): string {
  const lines: string[] = [];
  for (const [key, family] of Object.entries(FAMILIES) as [FamilyKey, MetricFamily][]) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    if (family.type === "counter") lines.push(...counterLines(totals, family.name));
    else if (family.type === "histogram") lines.push(...histogramLines(totals, family));
    else lines.push(...gauges.filter((g) => g.family === key).map((g) => `${seriesKey(family.name, g.labels)} ${formatValue(g.value)}`));
  }
  return `${lines.join("\n")}\n`;
}

/** The series of one metric among the totals' keys: `name` exactly, or `name{...}`. */
function ofFamily(keys: string[], name: string): string[] {
  return keys.filter((key) => key === name || key.startsWith(`${name}{`)).sort();
}

function counterLines(totals: MetricsTotals, name: string): string[] {
  return ofFamily(Object.keys(totals.counters), name).map((key) => `${key} ${formatValue(totals.counters[key]!)}`);
}

function histogramLines(totals: MetricsTotals, family: MetricFamily): string[] {
  const bounds = family.buckets ?? [];
  const lines: string[] = [];
  for (const key of ofFamily(Object.keys(totals.histograms), family.name)) {
    const { counts, sum } = totals.histograms[key]!;
    // Counts from before a change of bounds would not line up (the Metrics object starts such a series again).
    if (counts.length !== bounds.length + 1) continue;
    let cumulative = 0;
    counts.forEach((count, k) => {
      cumulative += count;
      const le = k < bounds.length ? formatValue(bounds[k]!) : "+Inf";
      lines.push(`${withSuffix(key, "_bucket", `le="${le}"`)} ${formatValue(cumulative)}`);
    });
    lines.push(`${withSuffix(key, "_sum")} ${formatValue(sum)}`, `${withSuffix(key, "_count")} ${formatValue(cumulative)}`);
  }
  return lines;
}

/** HELP text escapes only backslash and newline. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}
