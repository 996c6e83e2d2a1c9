/**
 * @module The report of the overload scenarios (overload.ts): markdown tables per policy, level and
 * tier, the host's served rate per level, premium tiered vs fifo and the 4x target; charts of latency
 * and queue length over time and of the share served within the deadline; and the raw data.
 */
import { TIERS } from "../../config/tiers.ts";
import type { HostCore } from "./cpu-affinity.ts";
import {
  LEVELS,
  MIX,
  MODEL,
  ROWS,
  scenarioName,
  TARGET_PREMIUM_SERVED,
  TENANTS,
  TIER_ORDER,
  type Level,
  type Policy,
  type Run,
  type Topology,
} from "./overload-config.ts";
import { ms, pct, percentile, ratio, table } from "./stats.ts";
import { barChart, COLORS, xyChart } from "./svg.ts";

const TOPOLOGY_TEXT: Record<Topology, string> = {
  split:
    "Topology: the router and the ModelHost in two `wrangler dev` sessions (two workerd processes, each with its own thread), the router reaching the host through a Durable Object binding across sessions, " +
    "as production keeps the router's isolates apart from the Durable Object's. Each call between them crosses one local TCP hop.",
  "one-session":
    "Topology: one `wrangler dev` session, whose one workerd thread runs the router and the ModelHost: every request the router handles, served or refused, takes time from the model's runs.",
};

export function report(
  topology: Topology,
  cores: HostCore | undefined,
  runs: Run[],
  capacity: Record<Policy, number>,
  reference: number,
  durationsMs: Record<Level, number>,
  refusal: { ratePerSecond: number; statuses: Record<string, number> },
) {
  const name = scenarioName(topology);
  const rows: string[][] = [];
  for (const policy of ["tiered", "fifo"] as const) {
    for (const run of runs.filter((r) => r.policy === policy)) {
      for (const tier of TIER_ORDER) {
        const s = run.byTier[tier];
        const st = (code: string) => String(s.statuses[code] ?? 0);
        const other = Object.entries(s.statuses)
          .filter(([code]) => !["200", "429", "503", "504"].includes(code))
          .reduce((n, [, c]) => n + c, 0);
        rows.push([
          policy,
          `${run.level}x`,
          tier,
          s.offeredRps.toFixed(1),
          String(s.count),
          pct(s.successRate),
          pct(s.count ? s.withinDeadline / s.count : Number.NaN),
          ms(s.p50, 0),
          ms(s.p99, 0),
          ms(s.routerP99, 0),
          `${ms(s.hostQueueP50, 0)} / ${ms(s.hostQueueP99, 0)}`,
          st("429"),
          st("503"),
          st("504"),
          String(other),
        ]);
      }
    }
  }
  const premium = (policy: Policy, level: number) => runs.find((r) => r.policy === policy && r.level === level)!.byTier.premium;
  const at4 = premium("tiered", 4);
  const served4 = at4.count ? at4.withinDeadline / at4.count : 0;
  const met = served4 >= TARGET_PREMIUM_SERVED && at4.p99 <= TIERS.premium.defaultDeadlineMs && at4.routerP99 <= TIERS.premium.defaultDeadlineMs;
  const comparison = LEVELS.map((level) => {
    const t = premium("tiered", level);
    const f = premium("fifo", level);
    return [`${level}x`, pct(t.successRate), pct(f.successRate), ms(t.p50, 0), ms(f.p50, 0), ms(t.p99, 0), ms(f.p99, 0), ratio(t.p99 / f.p99)];
  });
  const lag = Math.max(...runs.map((r) => r.lagP99Ms));
  // What the host really did at each level: the capacity measured before the levels is a
  // reference for the arrival rates, but a shared machine's speed drifts over minutes.
  const hostRows = runs.map((run) => {
    const served = (run.counters.completed ?? 0) / (run.arrivalMs / 1000);
    const runMs = percentile(
      run.outcomes.filter((o) => o.status === 200).map((o) => o.server?.infer ?? Number.NaN),
      0.5,
    );
    return [run.policy, `${run.level}x`, served.toFixed(1), ms(runMs, 1), ratio(run.byTier.premium.offeredRps / served)];
  });
  const markdown = [
    `### ${name}: tiers at 1x, 2x, 4x one replica's capacity, tiered vs fifo`,
    "",
    TOPOLOGY_TEXT[topology] +
      (topology === "split"
        ? cores
          ? ` The hosts' processes were pinned to cpu ${cores.host.join(",")}, the routers', wrangler's proxies and the load generator to cpu ${cores.rest.join(",")} (taskset).`
          : " The hosts could not be given a core of their own (taskset missing or refused, or one core)."
        : ""),
    "",
    `Model \`${MODEL}\` (MLP 32-1024-1024-1024-32), ${ROWS} rows per request (binary tensors in and out), max_batch ${ROWS} (no cross-request batching), one replica. ` +
      `Capacity (closed loop, 4 premium clients, median of alternating rounds): ${capacity.tiered.toFixed(1)} req/s on the tiered stack, ${capacity.fifo.toFixed(1)} req/s on the fifo stack; ` +
      `arrivals for both are Poisson at multiples of ${reference.toFixed(1)} req/s (the median of all rounds), ${LEVELS.map((l) => `${durationsMs[l] / 1000} s at ${l}x`).join(", ")}, the same seeded sequence for both policies. ` +
      `Mix by requests: premium ${pct(MIX.premium, 0)}, standard ${pct(MIX.standard, 0)}, free ${pct(MIX.free, 0)}, over ${TENANTS.premium}/${TENANTS.standard}/${TENANTS.free} tenants, ` +
      `default deadlines (premium ${TIERS.premium.defaultDeadlineMs} ms, standard ${TIERS.standard.defaultDeadlineMs} ms, free ${TIERS.free.defaultDeadlineMs} ms); ` +
      `client timeout = deadline + 2 s (status 0 if it fires, counted in "other"). Latency percentiles are over successes: p50/p99 as the client saw them, ` +
      `"router p99" from the router's Server-Timing total (the platform's deadline starts there), "host queue" the time in the ModelHost's scheduler queue. ` +
      `"within deadline": 200 with the router's total within the tier's deadline. Load generator lag p99 ≤ ${lag.toFixed(0)} ms. ` +
      `A refused request costs this stack ${(1000 / refusal.ratePerSecond).toFixed(1)} ms (closed loop of 8 clients sending requests refused at the host: ${refusal.ratePerSecond.toFixed(0)} req/s).`,
    "",
    table(
      [
        "policy",
        "load",
        "tier",
        "offered req/s",
        "requests",
        "success",
        "within deadline",
        "p50 ms",
        "p99 ms",
        "router p99 ms",
        "host queue p50 / p99 ms",
        "429",
        "503",
        "504",
        "other",
      ],
      rows,
    ),
    "",
    "The host during each level: requests it served per second (all tiers), its median run (Server-Timing `infer`), and premium's offered rate against that served rate (how much of what the host actually did premium alone asked for):",
    "",
    table(["policy", "load", "host served req/s", "run p50 ms", "premium offered / host served"], hostRows),
    "",
    "Premium, tiered vs fifo:",
    "",
    table(["load", "success tiered", "success fifo", "p50 tiered ms", "p50 fifo ms", "p99 tiered ms", "p99 fifo ms", "p99 tiered/fifo"], comparison),
    "",
    `Target (tiered, 4x): premium p99 within its ${TIERS.premium.defaultDeadlineMs} ms deadline and ≥ ${pct(TARGET_PREMIUM_SERVED)} served within it: ` +
      `**${met ? "met" : "not met"}** (p99 ${ms(at4.p99, 0)} ms at the client, ${ms(at4.routerP99, 0)} ms at the router; ${pct(served4, 2)} of ${at4.count} premium requests served within the deadline).`,
  ].join("\n");

  const charts: Record<string, string> = {};
  const gap = 1_500;
  // Levels back to back on one time axis: where each level starts, and where the last ends.
  const offsets = LEVELS.map((_, k) => LEVELS.slice(0, k).reduce((sum, l) => sum + durationsMs[l] + gap, 0));
  const xMax = (offsets.at(-1)! + durationsMs[LEVELS.at(-1)!] + gap) / 1000;
  for (const policy of ["tiered", "fifo"] as const) {
    const mine = runs.filter((r) => r.policy === policy);
    const series = TIER_ORDER.map((tier) => ({
      name: tier,
      color: COLORS[tier],
      points: mine.flatMap((run, k) =>
        run.outcomes.filter((o) => o.label === tier && o.status === 200).map((o) => [(offsets[k]! + o.sentAt) / 1000, o.latencyMs] as [number, number]),
      ),
    }));
    charts[`${name}-latency-${policy}.svg`] = xyChart({
      title: `${name} (${policy}): latency of successful requests over time, 1x | 2x | 4x`,
      xLabel: "time (s); load levels back to back",
      yLabel: "latency (ms)",
      kind: "scatter",
      xMax,
      yMax: TIERS.free.defaultDeadlineMs * 1.05,
      series,
      vLines: mine.map((run, k) => ({ x: offsets[k]! / 1000, label: `${run.level}x` })),
      hLines: TIER_ORDER.map((tier) => ({ y: TIERS[tier].defaultDeadlineMs, label: `${tier} deadline`, color: COLORS[tier] })),
    });
  }
  charts[`${name}-queue.svg`] = xyChart({
    title: `${name}: ModelHost queue length over time, 1x | 2x | 4x`,
    xLabel: "time (s); load levels back to back",
    yLabel: "queued requests",
    kind: "line",
    xMax,
    series: (["tiered", "fifo"] as const).map((policy) => ({
      name: policy,
      color: COLORS[policy],
      points: runs.filter((r) => r.policy === policy).flatMap((run, k) => run.samples.map((s) => [(offsets[k]! + s.t) / 1000, s.queued] as [number, number])),
    })),
    vLines: LEVELS.map((level, k) => ({ x: offsets[k]! / 1000, label: `${level}x` })),
  });
  charts[`${name}-success.svg`] = barChart({
    title: `${name}: share of requests served within the deadline, per tier`,
    yLabel: "served within deadline (%)",
    yMax: 100,
    format: (v) => v.toFixed(0),
    groups: runs.map((run) => ({
      label: `${run.level}x ${run.policy}`,
      bars: TIER_ORDER.map((tier) => ({
        name: tier,
        color: COLORS[tier],
        value: run.byTier[tier].count ? (100 * run.byTier[tier].withinDeadline) / run.byTier[tier].count : 0,
      })),
    })),
  });

  const data = {
    model: MODEL,
    rows: ROWS,
    mix: MIX,
    tenants: TENANTS,
    durationsMs,
    capacity,
    reference,
    refusal,
    target: { premiumServed: TARGET_PREMIUM_SERVED, met, premiumP99At4x: at4.p99, premiumServedAt4x: served4 },
    runs: runs.map((run) => ({
      policy: run.policy,
      level: run.level,
      ratePerSecond: run.ratePerSecond,
      elapsedMs: run.elapsedMs,
      lagP99Ms: run.lagP99Ms,
      byTier: run.byTier,
      counters: run.counters,
      samples: run.samples,
      // compact per request: [tier, status, sentAt ms, latency ms, router total ms, host queue ms, run ms] (Server-Timing; null without)
      requests: run.outcomes.map((o) => [
        o.label,
        o.status,
        Math.round(o.sentAt),
        Math.round(o.latencyMs * 10) / 10,
        o.server?.total ?? null,
        o.server?.queue ?? null,
        o.server?.infer ?? null,
      ]),
      errors: [
        ...new Set(
          run.outcomes
            .filter((o) => o.status !== 200)
            .map((o) => `${o.label} ${o.status} ${o.message ?? o.error ?? ""}`.replace(/\d+(\.\d+)? ms/g, "N ms").replace(/about \d+/g, "about N")),
        ),
      ].slice(0, 20),
    })),
  };
  return { name, markdown, data: { topology, cores: cores ? { host: cores.host, rest: cores.rest } : null, ...data }, charts };
}
