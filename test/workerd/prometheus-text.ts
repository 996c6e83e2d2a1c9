/**
 * @module A strict parser of the Prometheus text exposition format 0.0.4, for the tests: it
 * throws on any line the format does not allow, on samples before their family's TYPE, a family
 * declared twice or split apart, a histogram whose buckets are not cumulative or lack `+Inf`, or
 * whose `+Inf` bucket differs from its `_count`. What it returns lets a test look samples up by
 * name and labels.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string | undefined;
  samples: Sample[];
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?[ \\t]+(\\S+)(?:[ \\t]+(-?\\d+))?$`);
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$/;

export function parsePrometheusText(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const families = new Map<string, Family>();
  let current: Family | undefined;
  const closed = new Set<string>();
  const typed = new Set<string>();
  text
    .slice(0, -1)
    .split("\n")
    .forEach((line, k) => {
      const where = `line ${k + 1}: ${line}`;
      if (line.trim() === "") return;
      const meta = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (meta) {
        const [, kind, name, rest = ""] = meta;
        if (!new RegExp(`^${NAME}$`).test(name!)) throw new Error(`bad metric name, ${where}`);
        if (current && current.name !== name) closed.add(current.name);
        if (closed.has(name!)) throw new Error(`family ${name} split apart, ${where}`);
        const family = families.get(name!) ?? { name: name!, type: "untyped", help: undefined, samples: [] };
        if (kind === "TYPE") {
          if (!TYPES.has(rest)) throw new Error(`unknown type, ${where}`);
          if (family.samples.length > 0 || typed.has(name!)) throw new Error(`TYPE late or twice, ${where}`);
          typed.add(name!);
          family.type = rest;
        } else {
          if (family.help !== undefined) throw new Error(`HELP twice, ${where}`);
          family.help = rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
        }
        families.set(name!, family);
        current = family;
        return;
      }
      if (line.startsWith("#")) return;
      const match = SAMPLE.exec(line);
      if (!match) throw new Error(`not a sample, ${where}`);
      const [, name, labelText, value] = match;
      if (!VALUE.test(value!)) throw new Error(`bad value, ${where}`);
      const family = familyOf(families, name!);
      if (!family || family !== current) throw new Error(`sample outside its family (declare TYPE first), ${where}`);
      family.samples.push({ name: name!, labels: parseLabels(labelText ?? "", where), value: Number(value!.replace("Inf", "Infinity")) });
    });
  for (const family of families.values()) if (family.type === "histogram") checkHistogram(family);
  return families;
}

/** The family a sample name belongs to: itself, or a histogram's `_bucket`, `_sum`, `_count`. */
function familyOf(families: Map<string, Family>, name: string): Family | undefined {
  const own = families.get(name);
  if (own) return own;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  const family = families.get(base);
  return family && (family.type === "histogram" || family.type === "summary") ? family : undefined;
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text.trim();
  while (rest !== "") {
    const match = /^([^=\s]+)\s*=\s*"((?:[^"\\\n]|\\[\\"n])*)"\s*(?:,\s*|$)/.exec(rest);
    if (!match || !LABEL_NAME.test(match[1]!)) throw new Error(`bad labels, ${where}`);
    if (match[1]! in labels) throw new Error(`label ${match[1]} twice, ${where}`);
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    rest = rest.slice(match[0].length);
  }
  return labels;
}

/** Per label set: buckets in ascending `le`, cumulative, the last `+Inf`, equal to `_count`; a `_sum` present. */
function checkHistogram(family: Family): void {
  const groups = new Map<string, { buckets: Sample[]; count?: number; sum?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const group = groups.get(key) ?? { buckets: [] };
    groups.set(key, group);
    if (sample.name.endsWith("_bucket")) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      group.buckets.push(sample);
    } else if (sample.name.endsWith("_count")) group.count = sample.value;
    else if (sample.name.endsWith("_sum")) group.sum = sample.value;
  }
  for (const [key, group] of groups) {
    const les = group.buckets.map((b) => Number(b.labels.le!.replace("Inf", "Infinity")));
    if (les.at(-1) !== Infinity) throw new Error(`${family.name}${key}: no +Inf bucket`);
    for (let k = 1; k < les.length; k++) {
      if (!(les[k]! > les[k - 1]!)) throw new Error(`${family.name}${key}: le not ascending`);
      if (group.buckets[k]!.value < group.buckets[k - 1]!.value) throw new Error(`${family.name}${key}: buckets not cumulative`);
    }
    if (group.count !== group.buckets.at(-1)!.value) throw new Error(`${family.name}${key}: _count ${group.count} differs from the +Inf bucket`);
    if (group.sum === undefined) throw new Error(`${family.name}${key}: no _sum`);
  }
}

/** The value of the sample named `name` whose labels include `labels`, summed over all that match (0 when none). */
export function sampleSum(families: Map<string, Family>, name: string, labels: Record<string, string>): number {
  const family = familyOf(families, name);
  if (!family) return 0;
  return family.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([label, value]) => s.labels[label] === value))
    .reduce((sum, s) => sum + s.value, 0);
}
