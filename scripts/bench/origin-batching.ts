/**
 * @module Scenario `origin-batching`: throughput of `mlp-heavy` on the origin server with its
 * dynamic batcher on and off. Two origin processes (onnxruntime-node, cpu) load the model from a
 * stand-in edge (origin/dev-edge.ts, no wrangler needed); 64 closed-loop clients send one row per
 * request straight to the origin over OIP binary, as the edge's pool would. On and off alternate
 * in rounds so drift on a noisy machine hits both alike. On a GPU the same comparison is where the
 * origin earns its place (docs/gpu.md); here it is the cpu figure.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevEdge } from "../../origin/dev-edge.ts";
import { launchOrigin, type LaunchedOrigin } from "../../origin/launch.ts";
import { REPO_ROOT } from "../lib/wrangler-dev.ts";
import { mlpHeavyRows } from "./bodies.ts";
import { PORTS, type Scenario } from "./context.ts";
import { closedLoop, type RequestSpec } from "./load.ts";
import { MODELS_DIR, modelFile } from "./stack.ts";
import { describeRounds, ms, ratio, table, type Round } from "./stats.ts";
import { barChart, COLORS } from "./svg.ts";

const CONCURRENCY = 64;
const MODEL = "mlp-heavy";
const TOKEN = "bench-origin-token";

export const originBatching: Scenario = async ({ quick, log, signal, track }) => {
  modelFile(MODEL); // a clear error before anything starts when `npm run models` has not run
  const rounds = quick ? 1 : 3;
  const roundMs = quick ? 1_500 : 4_000;
  const cacheDir = mkdtempSync(join(tmpdir(), "hotpath-bench-origin-"));
  track({ stop: async () => rmSync(cacheDir, { recursive: true, force: true }) });
  const edge = await startDevEdge({ port: PORTS.originBatchingEdge, token: TOKEN, modelsDir: MODELS_DIR, repoRoot: REPO_ROOT });
  track({ stop: () => edge.close() });
  const start = (which: "on" | "off", port: number): Promise<LaunchedOrigin> =>
    launchOrigin({
      port,
      edge: edge.url,
      token: TOKEN,
      models: [`${MODEL}@1`],
      cacheDir: join(cacheDir, which),
      args: ["--id", `bench-${which}`, "--batching", which],
      readyTimeoutMs: 120_000,
    }).then((origin) => track(origin));
  log(`origin-batching: starting two origins (batching on at ${PORTS.originBatchingOn}, off at ${PORTS.originBatchingOff}) with ${MODEL}`);
  const origins = { on: await start("on", PORTS.originBatchingOn), off: await start("off", PORTS.originBatchingOff) };

  const body = mlpHeavyRows(1);
  const spec = (): RequestSpec => ({
    path: `/v2/models/${MODEL}/infer`,
    body: body.body,
    headers: { ...body.headers, authorization: `Bearer ${TOKEN}` },
    timeoutMs: 30_000,
  });
  for (const which of ["on", "off"] as const) {
    await closedLoop({ signal, baseUrl: origins[which].url, concurrency: CONCURRENCY, durationMs: quick ? 500 : 1_000, maxRequests: 20_000, next: spec });
  }
  const result = { on: [] as Round[], off: [] as Round[] };
  for (let r = 0; r < rounds; r++) {
    for (const which of r % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const)) {
      const run = await closedLoop({ signal, baseUrl: origins[which].url, concurrency: CONCURRENCY, durationMs: roundMs, maxRequests: 200_000, next: spec });
      const ok = run.outcomes.filter((o) => o.status === 200).length;
      result[which].push({ throughput: ok / (run.elapsedMs / 1000), outcomes: run.outcomes });
      log(`origin-batching: batching ${which}, round ${r + 1}/${rounds}: ${(ok / (run.elapsedMs / 1000)).toFixed(0)} req/s`);
    }
  }

  const on = describeRounds(result.on);
  const off = describeRounds(result.off);
  const row = (label: string, d: typeof on) => [
    label,
    d.throughput.toFixed(0),
    d.throughputs.join(", "),
    ms(d.meanBatch, 1),
    ms(d.inferP50, 1),
    ms(d.p50, 1),
    ms(d.p99, 1),
    String(d.failed),
  ];
  const markdown = [
    `### origin-batching: ${MODEL} on the origin server, dynamic batching on vs off`,
    "",
    `Two origin processes on this machine (onnxruntime-node, execution provider cpu, onnxruntime's default threads), ${MODEL} ` +
      `(1024-wide MLP, 101 MB) fetched from a stand-in edge; ${CONCURRENCY} closed-loop clients, one row per request over OIP binary, ` +
      `${rounds} round(s) of ${roundMs / 1000} s per setting, alternating. Throughput is the median over rounds of successful requests per second; ` +
      `"rows per run" is the mean over requests of the run each was part of (Server-Timing \`batch\`), "run p50" the origin's session.run time.`,
    "",
    table(
      ["batching", "req/s (median)", "req/s per round", "rows per run", "run p50 ms", "p50 ms", "p99 ms", "failed"],
      [
        row("on", on),
        row("off", off),
        ["**on / off**", `**${ratio(on.throughput / off.throughput)}**`, "", "", "", ratio(on.p50 / off.p50), ratio(on.p99 / off.p99), ""],
      ],
    ),
  ].join("\n");
  const chart = barChart({
    title: `origin-batching: ${MODEL} on the origin (cpu), ${CONCURRENCY} clients, 1 row each`,
    yLabel: "requests per second",
    groups: [
      {
        label: MODEL,
        bars: [
          { name: "batching on", color: COLORS.on, value: on.throughput },
          { name: "batching off", color: COLORS.off, value: off.throughput },
        ],
      },
    ],
  });
  return {
    name: "origin-batching",
    markdown,
    data: { model: MODEL, concurrency: CONCURRENCY, rounds, roundMs, on, off },
    charts: { "origin-batching-throughput.svg": chart },
  };
};
