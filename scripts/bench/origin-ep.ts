/**
 * @module Scenario `origin-ep`: the origin server with the `webgpu` execution provider against
 * `cpu` on the same machine, at batch 1 and batched, in one run (docs/gpu.md: run it on a GPU machine,
 * e.g. through scripts/gpu/origin-ep.sh; elsewhere the webgpu origin cannot start and the report says so).
 * Two origin processes serve `mlp-heavy` from a stand-in edge; per provider it measures one row
 * per request one at a time, 64 rows per request one at a time, and 64 clients of one row each
 * through the origin's batcher, and checks that both providers give the same outputs.
 */
import { INFERENCE_HEADER_LENGTH_HEADER } from "../../protocol/headers.ts";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevEdge } from "../../origin/dev-edge.ts";
import { launchOrigin, type LaunchedOrigin } from "../../origin/launch.ts";
import { decodeInferResponse } from "../../protocol/oip/infer-response.ts";
import { REPO_ROOT } from "../lib/wrangler-dev.ts";
import { mlpHeavyRows, type Body } from "./bodies.ts";
import { PORTS, type Scenario } from "./context.ts";
import { closedLoop, type Outcome, type RequestSpec } from "./load.ts";
import { MODELS_DIR, modelFile } from "./stack.ts";
import { describeRounds, ms, percentile, ratio, table } from "./stats.ts";
import { barChart, COLORS } from "./svg.ts";

const MODEL = "mlp-heavy";
const TOKEN = "bench-origin-ep-token";
const PROVIDERS = ["cpu", "webgpu"] as const;
type Provider = (typeof PROVIDERS)[number];

interface Measured {
  batch1: Outcome[];
  batch64: Outcome[];
  batched: { throughput: number; outcomes: Outcome[] }[];
}

export const originEp: Scenario = async ({ quick, log, signal, track }) => {
  modelFile(MODEL);
  const cacheDir = mkdtempSync(join(tmpdir(), "hotpath-bench-ep-"));
  track({ stop: async () => rmSync(cacheDir, { recursive: true, force: true }) });
  const edge = await startDevEdge({ port: PORTS.originEpEdge, token: TOKEN, modelsDir: MODELS_DIR, repoRoot: REPO_ROOT });
  track({ stop: () => edge.close() });
  const gpu = gpuName();
  log(`origin-ep: ${gpu ?? "no NVIDIA GPU found (nvidia-smi)"}; starting a cpu and a webgpu origin with ${MODEL}`);

  const origins = new Map<Provider, LaunchedOrigin>();
  let webgpuMissing: string | undefined;
  for (const [k, ep] of PROVIDERS.entries()) {
    try {
      const origin = await launchOrigin({
        port: PORTS.originEpCpu + k,
        edge: edge.url,
        token: TOKEN,
        models: [`${MODEL}@1`],
        cacheDir: join(cacheDir, ep),
        args: ["--id", `bench-${ep}`, "--ep", ep, "--strict"],
        readyTimeoutMs: 180_000,
      });
      origins.set(ep, track(origin));
    } catch (error) {
      if (ep === "cpu") throw error;
      webgpuMissing = (error instanceof Error ? error.message : String(error)).split("\n").filter(Boolean).slice(-3).join(" / ");
      log(`origin-ep: no webgpu origin: ${webgpuMissing}`);
    }
  }

  const spec = (body: Body) => (): RequestSpec => ({
    path: `/v2/models/${MODEL}/infer`,
    body: body.body,
    headers: { ...body.headers, authorization: `Bearer ${TOKEN}` },
    timeoutMs: 30_000,
  });
  const one = spec(mlpHeavyRows(1));
  const sixtyFour = spec(mlpHeavyRows(64));
  const sequential = quick ? 40 : 300;
  const measured = new Map<Provider, Measured>();
  for (const [ep, origin] of origins) {
    log(`origin-ep: ${ep}: warm-up, then ${sequential} requests of 1 row and of 64 rows one at a time, then 64 clients of 1 row`);
    await closedLoop({ signal, baseUrl: origin.url, concurrency: 1, durationMs: 2_000, maxRequests: 20, next: one });
    await closedLoop({ signal, baseUrl: origin.url, concurrency: 1, durationMs: 2_000, maxRequests: 20, next: sixtyFour });
    const batch1 = (await closedLoop({ signal, baseUrl: origin.url, concurrency: 1, durationMs: 60_000, maxRequests: sequential, next: one })).outcomes;
    const batch64 = (await closedLoop({ signal, baseUrl: origin.url, concurrency: 1, durationMs: 60_000, maxRequests: sequential, next: sixtyFour })).outcomes;
    const batched = [];
    for (let r = 0; r < (quick ? 1 : 3); r++) {
      const run = await closedLoop({ signal, baseUrl: origin.url, concurrency: 64, durationMs: quick ? 1_500 : 4_000, maxRequests: 500_000, next: one });
      batched.push({ throughput: run.outcomes.filter((o) => o.status === 200).length / (run.elapsedMs / 1000), outcomes: run.outcomes });
    }
    measured.set(ep, { batch1, batch64, batched });
  }
  const agreement = origins.size === 2 ? await compareOutputs(origins.get("cpu")!.url, origins.get("webgpu")!.url) : undefined;
  return report(measured, { gpu, webgpuMissing, agreement, sequential, quick });
};

/** The same 64-row input on both origins: largest |webgpu - cpu| relative to the largest |cpu|. */
async function compareOutputs(cpuUrl: string, gpuUrl: string): Promise<number> {
  const body = mlpHeavyRows(64);
  const outputs = await Promise.all(
    [cpuUrl, gpuUrl].map(async (url) => {
      const response = await fetch(`${url}/v2/models/${MODEL}/infer`, {
        method: "POST",
        body: body.body,
        headers: { ...body.headers, authorization: `Bearer ${TOKEN}` },
      });
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (!response.ok) throw new Error(`${url}: ${response.status} ${new TextDecoder().decode(bytes).slice(0, 200)}`);
      const length = response.headers.get(INFERENCE_HEADER_LENGTH_HEADER);
      return decodeInferResponse(bytes, length === null ? undefined : Number(length)).outputs[0]!.data as Float32Array;
    }),
  );
  const [cpu, gpu] = outputs as [Float32Array, Float32Array];
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < cpu.length; i++) {
    scale = Math.max(scale, Math.abs(cpu[i]!));
    diff = Math.max(diff, Math.abs(cpu[i]! - gpu[i]!));
  }
  return diff / Math.max(scale, 1e-30);
}

function gpuName(): string | undefined {
  const smi = spawnSync("nvidia-smi", ["--query-gpu=name,driver_version", "--format=csv,noheader"], { encoding: "utf8" });
  return smi.status === 0 ? smi.stdout.trim().split("\n")[0] : undefined;
}

function report(
  measured: Map<Provider, Measured>,
  info: { gpu: string | undefined; webgpuMissing: string | undefined; agreement: number | undefined; sequential: number; quick: boolean },
) {
  const describe = (m: Measured) => {
    const ok = (list: Outcome[]) => list.filter((o) => o.status === 200);
    const latencies = (list: Outcome[]) => ok(list).map((o) => o.latencyMs);
    const infer = (list: Outcome[]) => ok(list).flatMap((o) => (o.server?.infer === undefined ? [] : [o.server.infer]));
    const batched = describeRounds(m.batched);
    return {
      batch1P50: percentile(latencies(m.batch1), 0.5),
      batch1P99: percentile(latencies(m.batch1), 0.99),
      batch1Run: percentile(infer(m.batch1), 0.5),
      batch64P50: percentile(latencies(m.batch64), 0.5),
      batch64P99: percentile(latencies(m.batch64), 0.99),
      batch64Run: percentile(infer(m.batch64), 0.5),
      batchedThroughput: batched.throughput,
      batchedRows: batched.meanBatch,
      batchedP99: batched.p99,
      failed: [...m.batch1, ...m.batch64].filter((o) => o.status !== 200).length + batched.failed,
    };
  };
  const rows = new Map([...measured].map(([ep, m]) => [ep, describe(m)]));
  const line = (label: string, d: ReturnType<typeof describe>) => [
    label,
    ms(d.batch1Run, 2),
    ms(d.batch1P50, 1),
    ms(d.batch1P99, 1),
    ms(d.batch64Run, 2),
    ms(d.batch64P50, 1),
    ms(d.batch64P99, 1),
    d.batchedThroughput.toFixed(0),
    ms(d.batchedRows, 1),
    ms(d.batchedP99, 0),
    String(d.failed),
  ];
  const tableRows = [...rows].map(([ep, d]) => line(ep, d));
  const cpu = rows.get("cpu");
  const webgpu = rows.get("webgpu");
  if (cpu && webgpu) {
    tableRows.push([
      "**webgpu / cpu**",
      `**${ratio(webgpu.batch1Run / cpu.batch1Run)}**`,
      ratio(webgpu.batch1P50 / cpu.batch1P50),
      ratio(webgpu.batch1P99 / cpu.batch1P99),
      `**${ratio(webgpu.batch64Run / cpu.batch64Run)}**`,
      ratio(webgpu.batch64P50 / cpu.batch64P50),
      ratio(webgpu.batch64P99 / cpu.batch64P99),
      `**${ratio(webgpu.batchedThroughput / cpu.batchedThroughput)}**`,
      "",
      ratio(webgpu.batchedP99 / cpu.batchedP99),
      "",
    ]);
  }
  const markdown = [
    `### origin-ep: the origin on webgpu vs cpu (${MODEL}), batch 1 and batched`,
    "",
    `GPU: ${info.gpu ?? "none found"}. Two origin processes (onnxruntime-node; \`--ep cpu\` with every core, \`--ep webgpu --strict\`), ${MODEL} (1024-wide MLP, 101 MB). ` +
      `Per provider: ${info.sequential} requests of 1 row and of 64 rows one at a time ("run" is the origin's session.run p50 from Server-Timing, p50/p99 the client's), ` +
      `then 64 closed-loop clients of 1 row through the origin's batcher (median req/s over rounds, mean rows per run, p99).` +
      (info.agreement === undefined
        ? ""
        : ` Outputs agree to ${info.agreement.toExponential(1)} relative (largest |webgpu - cpu| over largest |cpu|, 64 rows).`),
    "",
    ...(info.webgpuMissing
      ? [`webgpu was not measured: the origin could not start with it here (${info.webgpuMissing}). Run this scenario on a GPU machine (docs/gpu.md).`, ""]
      : []),
    table(
      ["provider", "1 row: run p50 ms", "p50 ms", "p99 ms", "64 rows: run p50 ms", "p50 ms", "p99 ms", "64 clients: req/s", "rows per run", "p99 ms", "failed"],
      tableRows,
    ),
  ].join("\n");
  const chart = barChart({
    title: `origin-ep: ${MODEL} session.run p50 by provider and rows`,
    yLabel: "ms",
    groups: [
      { label: "1 row", bars: [...rows].map(([ep, d]) => ({ name: ep, color: ep === "cpu" ? COLORS.off : COLORS.on, value: d.batch1Run })) },
      { label: "64 rows", bars: [...rows].map(([ep, d]) => ({ name: ep, color: ep === "cpu" ? COLORS.off : COLORS.on, value: d.batch64Run })) },
    ],
  });
  return {
    name: "origin-ep",
    markdown,
    data: { model: MODEL, gpu: info.gpu, webgpuMissing: info.webgpuMissing, agreement: info.agreement, results: Object.fromEntries(rows) },
    charts: { "origin-ep-run.svg": chart },
  };
}
