/**
 * @module Scenario `spill`: an `auto` model at 2x and 4x the edge's capacity, with the origin
 * pool and without it, in one run. Two stacks get the same model (mlp-wide, placement auto, one
 * replica) and the same premium tenants; one has a local origin process in its ORIGINS (loaded
 * from that edge through the internal route, like any origin), the other has no pool. Arrivals
 * are Poisson at multiples of the edge-only stack's closed-loop capacity, the same seeded sequence
 * for both, and the two alternate at each level.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TIERS } from "../../config/tiers.ts";
import { launchOrigin } from "../../origin/launch.ts";
import { mlpWideRows } from "./bodies.ts";
import { PORTS, sleep, type Scenario } from "./context.ts";
import { closedLoop, newAgent, openLoop, seeded, type Outcome, type RequestSpec } from "./load.ts";
import { fixtureFile, type Stack, type TenantKey } from "./stack.ts";
import { ms, pct, percentile, summarize, table, topMessages } from "./stats.ts";
import { barChart, COLORS } from "./svg.ts";

const MODEL = "mlp-wide";
const ROWS = 128;
const LEVELS = [2, 4] as const;
const TOKEN = "bench-spill-origin-token";
const DEADLINE_MS = TIERS.premium.defaultDeadlineMs;

type Setting = "with pool" | "without pool";

interface Run {
  setting: Setting;
  level: number;
  ratePerSecond: number;
  outcomes: Outcome[];
  elapsedMs: number;
  lagP99Ms: number;
}

export const spill: Scenario = async ({ quick, log, startStack, track, signal }) => {
  const durationMs = quick ? 2_500 : 10_000;
  const origin = { id: "o1", url: `http://127.0.0.1:${PORTS.spillOrigin}` };
  log(`spill: starting two stacks (with the pool on ${PORTS.spillWithPool}, without on ${PORTS.spillWithoutPool})`);
  const stacks: Record<Setting, Stack> = {
    "with pool": await startStack({ port: PORTS.spillWithPool, label: "bench-spill-pool", vars: { ORIGINS: JSON.stringify([origin]), ORIGIN_TOKEN: TOKEN } }),
    "without pool": await startStack({ port: PORTS.spillWithoutPool, label: "bench-spill-edge", vars: { ORIGINS: "[]", ORIGIN_TOKEN: TOKEN } }),
  };
  const keys = {} as Record<Setting, TenantKey[]>;
  for (const setting of ["with pool", "without pool"] as const) {
    await stacks[setting].upload(MODEL, "1", fixtureFile("mlp-wide.onnx"), { placement: "auto", maxBatch: ROWS, minReplicas: 1, maxReplicas: 1 });
    keys[setting] = await stacks[setting].tenants("premium", 2, "spill");
  }
  const cacheDir = mkdtempSync(join(tmpdir(), "hotpath-bench-spill-"));
  track({ stop: async () => rmSync(cacheDir, { recursive: true, force: true }) });
  log(`spill: starting origin ${origin.id} at ${origin.url}, loading ${MODEL}@1 from the pool's edge`);
  track(
    await launchOrigin({
      port: PORTS.spillOrigin,
      edge: stacks["with pool"].url,
      token: TOKEN,
      models: [`${MODEL}@1`],
      cacheDir,
      args: ["--id", origin.id, "--threads", "1"],
      readyTimeoutMs: 120_000,
    }),
  );
  const pool = await fetch(`${stacks["with pool"].url}/admin/origins?check=now`, { headers: { authorization: `Bearer ${stacks["with pool"].adminToken}` } });
  const poolView = (await pool.json()) as { origins: { id: string; health: { state: string } }[] };
  if (poolView.origins[0]?.health.state !== "ready") throw new Error(`the edge does not see its origin ready: ${JSON.stringify(poolView)}`);

  const body = mlpWideRows(ROWS);
  const path = `/v2/models/${MODEL}/infer`;
  const request = (setting: Setting) => {
    let k = 0;
    return (): RequestSpec => ({
      path,
      body: body.body,
      headers: { ...body.headers, authorization: `Bearer ${keys[setting][k++ % keys[setting].length]!.key}` },
      timeoutMs: DEADLINE_MS + 2_000,
      label: setting,
    });
  };
  // The edge's capacity, measured on the stack without a pool (nothing can spill there).
  for (const setting of ["without pool", "with pool"] as const) {
    await closedLoop({ signal, baseUrl: stacks[setting].url, concurrency: 4, durationMs: quick ? 500 : 1_000, maxRequests: 500, next: request(setting) });
  }
  const capacityRun = await closedLoop({
    signal,
    baseUrl: stacks["without pool"].url,
    concurrency: 4,
    durationMs: quick ? 1_500 : 4_000,
    maxRequests: 2_000,
    next: request("without pool"),
  });
  const capacity = capacityRun.outcomes.filter((o) => o.status === 200).length / (capacityRun.elapsedMs / 1000);
  log(`spill: edge capacity (closed loop of 4, ${ROWS} rows each) ${capacity.toFixed(1)} req/s`);

  const runs: Run[] = [];
  for (const [i, level] of LEVELS.entries()) {
    const order: Setting[] = i % 2 === 0 ? ["with pool", "without pool"] : ["without pool", "with pool"];
    for (const setting of order) {
      if (signal.aborted) throw new Error("aborted");
      const ratePerSecond = capacity * level;
      log(`spill: ${setting}, ${level}x = ${ratePerSecond.toFixed(0)} req/s for ${durationMs / 1000} s`);
      const agent = newAgent(2048);
      const run = await openLoop({
        signal,
        baseUrl: stacks[setting].url,
        ratePerSecond,
        durationMs,
        random: seeded(3000 + level),
        next: request(setting),
        agent,
        maxOpen: 2048,
      });
      agent.destroy();
      runs.push({ setting, level, ratePerSecond, ...run });
      const s = describe(run.outcomes);
      log(
        `  ${pct(s.withinDeadline / Math.max(1, s.count))} within the deadline, p99 ${ms(s.p99, 0)} ms, ${pct(s.atOrigin / Math.max(1, s.ok))} of answers from the origin`,
      );
      for (const [message, count] of topMessages(run.outcomes)) log(`    ${count} x ${message}`);
      await sleep(1_500);
    }
  }
  return report(runs, capacity, durationMs);
};

function describe(outcomes: Outcome[]) {
  const summary = summarize(outcomes);
  const ok = outcomes.filter((o) => o.status === 200);
  return {
    ...summary,
    withinDeadline: ok.filter((o) => (o.server?.total ?? Number.POSITIVE_INFINITY) <= DEADLINE_MS).length,
    atOrigin: ok.filter((o) => o.servedBy?.startsWith("origin:")).length,
    routerP99: percentile(
      ok.map((o) => o.server?.total ?? Number.NaN),
      0.99,
    ),
  };
}

function report(runs: Run[], capacity: number, durationMs: number) {
  // Each run summarized once; the table, the JSON and both charts read these.
  const described = runs.map((run) => ({ run, s: describe(run.outcomes) }));
  const rows = described.map(({ run, s }) => {
    const other = s.count - s.ok - (s.statuses["503"] ?? 0) - (s.statuses["504"] ?? 0) - (s.statuses["429"] ?? 0);
    return [
      `${run.level}x`,
      run.setting,
      (run.outcomes.length / (Math.min(run.elapsedMs, durationMs) / 1000)).toFixed(1),
      String(s.count),
      pct(s.successRate),
      pct(s.withinDeadline / Math.max(1, s.count)),
      ms(s.p50, 0),
      ms(s.p99, 0),
      ms(s.routerP99, 0),
      pct(s.atOrigin / Math.max(1, s.ok)),
      String(s.statuses["503"] ?? 0),
      String(s.statuses["504"] ?? 0),
      String(other),
    ];
  });
  const summaries = described.map(({ run, s }) => ({ setting: run.setting, level: run.level, ratePerSecond: run.ratePerSecond, lagP99Ms: run.lagP99Ms, ...s }));
  const markdown = [
    `### spill: an auto model at 2x and 4x the edge's capacity, with the origin pool vs without`,
    "",
    `Model \`${MODEL}\` (placement auto, max_batch ${ROWS}, one replica), ${ROWS} rows per request (binary), premium tenants (deadline ${DEADLINE_MS} ms, may spill). ` +
      `Edge capacity (closed loop of 4 clients on the stack without a pool): ${capacity.toFixed(1)} req/s; arrivals are Poisson at 2x and 4x that, ${durationMs / 1000} s per level, ` +
      `the same seeded sequence for both stacks. The pool is one local origin process (onnxruntime-node, cpu) on the same machine. ` +
      `"within deadline": 200 with the router's Server-Timing total within ${DEADLINE_MS} ms; "from origin": share of the 200s with \`x-served-by: origin:...\`; ` +
      `"other": client timeouts (deadline + 2 s) and network errors. Load generator lag p99 ≤ ${Math.max(...runs.map((r) => r.lagP99Ms)).toFixed(0)} ms.`,
    "",
    table(
      ["load", "setting", "offered req/s", "requests", "success", "within deadline", "p50 ms", "p99 ms", "router p99 ms", "from origin", "503", "504", "other"],
      rows,
    ),
  ].join("\n");
  const groups = (value: (s: ReturnType<typeof describe>) => number) =>
    [...new Set(runs.map((r) => r.level))].map((level) => ({
      label: `${level}x capacity`,
      bars: (["with pool", "without pool"] as const).map((setting) => {
        const found = described.find(({ run }) => run.level === level && run.setting === setting);
        return {
          name: setting === "with pool" ? "with the origin pool" : "edge only",
          color: setting === "with pool" ? COLORS.on : COLORS.off,
          value: found ? value(found.s) : Number.NaN,
        };
      }),
    }));
  const charts = {
    "spill-within-deadline.svg": barChart({
      title: "spill: auto requests answered within the deadline",
      yLabel: "% of requests",
      yMax: 100,
      groups: groups((s) => (100 * s.withinDeadline) / Math.max(1, s.count)),
    }),
    "spill-p99.svg": barChart({ title: "spill: p99 latency of successful auto requests", yLabel: "ms", groups: groups((s) => s.p99) }),
  };
  return { name: "spill", markdown, data: { model: MODEL, rows: ROWS, capacity, durationMs, runs: summaries }, charts };
}
