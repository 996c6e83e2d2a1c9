/**
 * @module The `variants` scenario's report: sizes and recorded accuracy, latency of the pinned
 * default against the pinned int8 variant, the default's capacity, and the overload table with
 * its headline (served within the deadline with degradation / without), a bar chart of it.
 */
import type { VariantRecord } from "../../protocol/model-record.ts";
import type { Outcome } from "./load.ts";
import type { ScenarioResult } from "./context.ts";
import { ms, pct, percentile, ratio, table } from "./stats.ts";
import { barChart, COLORS } from "./svg.ts";
import { DEADLINE_MS, MODEL, OVERLOAD, VARIANT, type HeavyFiles } from "./variants-setup.ts";
import { mergeSummaries, summarizeOverload, withinDeadlineRatio, type OverloadSummary } from "./variants-summary.ts";

export type Setting = "with degradation" | "without";
const SETTINGS: readonly Setting[] = ["with degradation", "without"];

export interface LatencyRun {
  rows: number;
  /** `default` or the variant's name, as `parameters.variant` pinned it. */
  pinned: string;
  outcomes: Outcome[];
}

export interface OverloadRun {
  round: number;
  setting: Setting;
  ratePerSecond: number;
  /** The machine's load average (1, 5, 15 min) when the run started: the machine is shared. */
  loadAtStart: number[];
  outcomes: Outcome[];
  elapsedMs: number;
  lagP99Ms: number;
}

export interface VariantsMeasurements {
  quick: boolean;
  files: HeavyFiles;
  variant: VariantRecord;
  uploaded: boolean;
  latency: LatencyRun[];
  capacity: number;
  capacityRounds: number[];
  capacityClients: number;
  capacityTenants: number;
  overload: OverloadRun[];
  durationMs: number;
}

const MB = 1e6;

function sizesTable({ files, variant }: VariantsMeasurements): string {
  const a = variant.accuracy;
  return table(
    ["bytes", "file", "share of fp32", "recorded accuracy (vs the default, on the platform)"],
    [
      ["fp32 (default, origin)", `${(files.fp32.bytes / MB).toFixed(1)} MB`, "100%", "-"],
      [
        `${VARIANT} (variant, edge)`,
        `${(files.int8.bytes / MB).toFixed(1)} MB`,
        pct(files.int8.bytes / files.fp32.bytes),
        `max abs ${a.maxAbsError.toExponential(2)}, max rel ${a.maxRelError.toExponential(2)}, top-1 ${a.top1Agreement === null ? "n/a" : pct(a.top1Agreement)} ` +
          `(${a.probes} ${a.source} probes)`,
      ],
    ],
  );
}

function latencyTable(latency: readonly LatencyRun[]): string {
  return table(
    ["rows", "pinned", "served by", "requests", "p50 ms", "p99 ms", "Server-Timing p50 ms: edge infer / origin call", "failed"],
    latency.map((run) => {
      const ok = run.outcomes.filter((o) => o.status === 200);
      const where = [...new Set(ok.map((o) => o.servedBy?.replace(/\/.*$/, "") ?? "?"))].join(", ");
      const latencies = ok.map((o) => o.latencyMs);
      return [
        String(run.rows),
        run.pinned,
        where || "-",
        String(run.outcomes.length),
        ms(percentile(latencies, 0.5)),
        ms(percentile(latencies, 0.99)),
        ms(
          percentile(
            ok.flatMap((o) => o.server?.infer ?? o.server?.origin ?? []),
            0.5,
          ),
        ),
        String(run.outcomes.length - ok.length),
      ];
    }),
  );
}

function overloadRow(label: string, setting: Setting, s: OverloadSummary, load: string): string[] {
  const reasons = Object.entries(s.reasons)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(", ");
  return [
    label,
    setting,
    String(s.sent),
    `${s.withinDeadline} (${pct(s.withinDeadline / Math.max(1, s.sent))})`,
    `${pct(s.degraded / Math.max(1, s.served))}${reasons ? ` (${reasons})` : ""}`,
    String(s.refused503),
    String(s.refused429),
    String(s.expired504),
    String(s.other),
    ms(s.p50, 0),
    ms(s.p99, 0),
    load,
  ];
}

export function variantsReport(m: VariantsMeasurements): ScenarioResult {
  const perRun = m.overload.map((run) => ({ run, s: summarizeOverload(run.outcomes, DEADLINE_MS) }));
  const all = Object.fromEntries(
    SETTINGS.map((setting) => [
      setting,
      mergeSummaries(
        m.overload.filter((r) => r.setting === setting),
        DEADLINE_MS,
      ),
    ]),
  ) as Record<Setting, OverloadSummary>;
  const headline = withinDeadlineRatio(all["with degradation"], all.without);
  const rate = m.overload[0]?.ratePerSecond ?? Number.NaN;
  const rounds = Math.max(0, ...m.overload.map((r) => r.round));
  const rows = [
    ...perRun.map(({ run, s }) => overloadRow(`round ${run.round}`, run.setting, s, run.loadAtStart.join(" "))),
    ...(rounds > 1 ? SETTINGS.map((setting) => overloadRow("all rounds", setting, all[setting], "")) : []),
  ];
  const markdown = [
    `### variants: ${MODEL} under ${OVERLOAD}x overload, degraded to its int8 variant vs not (the INFaaS comparison)`,
    "",
    `The \`npm start\` stack (scripts/start.ts: router and ModelHosts in two workerd processes, one local origin on onnxruntime-node, cpu): ` +
      `\`${MODEL}\` (fp32) runs on the origin, its \`${VARIANT}\` variant at the edge (${m.uploaded ? "uploaded by the scenario: the stack did not have it" : "registered by `npm start`"}).`,
    "",
    sizesTable(m),
    "",
    `Latency one request at a time (one standard tenant, binary tensors both ways, ${m.latency[0]?.outcomes.length ?? 0} requests per row, the two pinned settings interleaved), at the client:`,
    "",
    latencyTable(m.latency),
    "",
    `Capacity of the default: closed loop of ${m.capacityClients} clients over ${m.capacityTenants} standard tenants pinning \`default\`, 1 row each: ${m.capacityRounds.map((c) => c.toFixed(1)).join(", ")} req/s, ` +
      `median **${m.capacity.toFixed(1)} req/s**. Overload: Poisson arrivals at ${OVERLOAD}x that (${rate.toFixed(1)} req/s) for ${m.durationMs / 1000} s per run, ` +
      `1 row per request from standard tenants, the same seeded arrivals for both settings, the order alternating by round. "with degradation": no \`parameters.variant\` ` +
      `(the standard tier may be degraded); "without": the same requests with \`parameters.variant: "default"\` (pinned, never degraded). ` +
      `"within deadline": 200 with a client latency of at most ${DEADLINE_MS} ms (the standard tier's default deadline); "degraded": share of the 200s a variant answered ` +
      `(Server-Timing \`variant\`; the reason from \`degraded\`); "504": the deadline passed at the router or the origin; "other": client timeouts (deadline + 2 s) and network errors; p50/p99 over the 200s. ` +
      `Between runs the stack is left to drain until a pinned request answers in its unloaded time again. ` +
      `Load generator lag p99 <= ${Math.max(0, ...m.overload.map((r) => r.lagP99Ms)).toFixed(0)} ms.`,
    "",
    table(["run", "setting", "sent", "within deadline", "degraded", "503", "429", "504", "other", "p50 ms", "p99 ms", "load avg at start"], rows),
    "",
    `**Served within the deadline, with degradation / without: ${ratio(headline)}x** (${all["with degradation"].withinDeadline} / ${all.without.withinDeadline}).`,
  ].join("\n");
  const groups = [
    ...(rounds > 1 ? Array.from({ length: rounds }, (_, i) => i + 1) : []).map((round) => ({
      label: `round ${round}`,
      bars: SETTINGS.map((setting) => bar(setting, perRun.find(({ run }) => run.round === round && run.setting === setting)?.s)),
    })),
    { label: rounds > 1 ? "all rounds" : `${OVERLOAD}x capacity`, bars: SETTINGS.map((setting) => bar(setting, all[setting])) },
  ];
  const charts = {
    "variants-within-deadline.svg": barChart({
      title: `variants: ${MODEL} at ${OVERLOAD}x capacity, requests served within ${DEADLINE_MS} ms`,
      yLabel: "% of requests sent",
      yMax: 100,
      groups,
    }),
  };
  const latencyData = m.latency.map((run) => {
    const ok = run.outcomes.filter((o) => o.status === 200).map((o) => o.latencyMs);
    return { rows: run.rows, pinned: run.pinned, requests: run.outcomes.length, ok: ok.length, p50: percentile(ok, 0.5), p99: percentile(ok, 0.99) };
  });
  const data = {
    model: MODEL,
    variant: m.variant,
    uploaded: m.uploaded,
    bytes: { fp32: m.files.fp32.bytes, [VARIANT]: m.files.int8.bytes },
    latency: latencyData,
    capacity: { rounds: m.capacityRounds, median: m.capacity, clients: m.capacityClients, tenants: m.capacityTenants },
    overload: {
      ratePerSecond: rate,
      durationMs: m.durationMs,
      deadlineMs: DEADLINE_MS,
      runs: perRun.map(({ run, s }) => ({ round: run.round, setting: run.setting, loadAtStart: run.loadAtStart, lagP99Ms: run.lagP99Ms, ...s })),
      all,
      withinDeadlineRatio: headline,
    },
  };
  return { name: "variants", markdown, data, charts };
}

function bar(setting: Setting, s: OverloadSummary | undefined) {
  return {
    name: setting === "with degradation" ? `with degradation (${VARIANT} at the edge)` : "without (default pinned)",
    color: setting === "with degradation" ? COLORS.on : COLORS.off,
    value: s ? (100 * s.withinDeadline) / Math.max(1, s.sent) : Number.NaN,
  };
}
