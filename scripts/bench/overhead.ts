/**
 * @module Scenario `overhead`: what the platform adds to one request. The full path
 * (`POST /v2/models/mlp-tiny/infer` with a premium key: auth, rate limit, validation, deadline,
 * replica pick, scheduler, Server-Timing) against the bare path (`POST /bench/bare/mlp-tiny/infer`:
 * Hono -> ModelHost -> session.run) on the same stack and model, one request at a time,
 * interleaved (the order flips every pair) so drift on a noisy machine hits both alike.
 */
import { mlpTinyRow } from "./bodies.ts";
import { PORTS, type Scenario } from "./context.ts";
import { newAgent, send, type Outcome, type RequestSpec } from "./load.ts";
import { modelFile } from "./stack.ts";
import { ms, percentile, ratio, table } from "./stats.ts";
import { COLORS, xyChart } from "./svg.ts";

/** The target: full/bare p50 at most this. */
export const TARGET_P50_RATIO = 1.15;

export const overhead: Scenario = async ({ quick, log, startStack, signal }) => {
  const pairs = quick ? 150 : 2000;
  const warmup = quick ? 30 : 200;
  log(`overhead: starting a stack (BENCH_ROUTES=1) on ${PORTS.overhead}`);
  const stack = await startStack({ port: PORTS.overhead, vars: { BENCH_ROUTES: "1" }, label: "bench-overhead" });
  await stack.upload("mlp-tiny", "1", modelFile("mlp-tiny"), { maxBatch: 64, maxReplicas: 1 });
  const [premium] = await stack.tenants("premium", 1);
  const row = mlpTinyRow();
  const full: RequestSpec = {
    path: "/v2/models/mlp-tiny/infer",
    body: row.body,
    headers: { ...row.headers, authorization: `Bearer ${premium!.key}` },
    timeoutMs: 10_000,
  };
  const bare: RequestSpec = { path: "/bench/bare/mlp-tiny/infer", body: row.body, headers: row.headers, timeoutMs: 10_000 };
  const agent = newAgent(1);

  log(`overhead: warm-up, ${warmup} requests per path`);
  for (let i = 0; i < warmup; i++) {
    if (signal.aborted) throw new Error("aborted");
    for (const spec of [full, bare]) {
      const outcome = await send(stack.url, agent, spec);
      if (outcome.status !== 200) throw new Error(`${spec.path}: ${outcome.status} ${outcome.message ?? outcome.error ?? ""}`);
    }
  }
  log(`overhead: ${pairs} interleaved pairs`);
  const results: { full: Outcome[]; bare: Outcome[] } = { full: [], bare: [] };
  const origin = performance.now();
  for (let i = 0; i < pairs; i++) {
    if (signal.aborted) throw new Error("aborted");
    const order = i % 2 === 0 ? (["full", "bare"] as const) : (["bare", "full"] as const);
    for (const which of order) results[which].push(await send(stack.url, agent, which === "full" ? full : bare, origin));
    if ((i + 1) % 500 === 0) log(`overhead: ${i + 1}/${pairs}`);
  }
  agent.destroy();

  const failures = [...results.full, ...results.bare].filter((o) => o.status !== 200);
  const lat = (outcomes: Outcome[]) => outcomes.filter((o) => o.status === 200).map((o) => o.latencyMs);
  const stat = (values: number[]) => ({
    n: values.length,
    p50: percentile(values, 0.5),
    p90: percentile(values, 0.9),
    p99: percentile(values, 0.99),
    mean: values.reduce((a, b) => a + b, 0) / values.length,
  });
  const fullStat = stat(lat(results.full));
  const bareStat = stat(lat(results.bare));
  const serverOf = (name: string) => results.full.flatMap((o) => (o.server?.[name] === undefined ? [] : [o.server[name]!]));
  const server = Object.fromEntries(
    ["auth", "host", "queue", "infer", "total"].map((name) => [name, { p50: percentile(serverOf(name), 0.5), p99: percentile(serverOf(name), 0.99) }]),
  );
  const p50Ratio = fullStat.p50 / bareStat.p50;
  const p99Ratio = fullStat.p99 / bareStat.p99;
  const met = p50Ratio <= TARGET_P50_RATIO;

  const markdown = [
    `### overhead: full path vs bare path (mlp-tiny, 1 row, sequential)`,
    "",
    `${fullStat.n} + ${bareStat.n} successful requests (${failures.length} failed), one at a time over one keep-alive connection, interleaved, after ${warmup} warm-up requests per path. Latency is measured by the client, so both paths include wrangler dev's proxy.`,
    "",
    table(
      ["path", "requests", "p50 ms", "p90 ms", "p99 ms", "mean ms"],
      [
        [
          "full `/v2/models/mlp-tiny/infer` (premium key)",
          String(fullStat.n),
          ms(fullStat.p50, 2),
          ms(fullStat.p90, 2),
          ms(fullStat.p99, 2),
          ms(fullStat.mean, 2),
        ],
        ["bare `/bench/bare/mlp-tiny/infer`", String(bareStat.n), ms(bareStat.p50, 2), ms(bareStat.p90, 2), ms(bareStat.p99, 2), ms(bareStat.mean, 2)],
        ["**full / bare**", "", `**${ratio(p50Ratio)}**`, ratio(fullStat.p90 / bareStat.p90), `**${ratio(p99Ratio)}**`, ratio(fullStat.mean / bareStat.mean)],
      ],
    ),
    "",
    `Inside the router (full path, from its Server-Timing), p50 / p99 ms: auth ${ms(server.auth!.p50, 2)} / ${ms(server.auth!.p99, 2)}, ` +
      `host call ${ms(server.host!.p50, 2)} / ${ms(server.host!.p99, 2)} (of which queue ${ms(server.queue!.p50, 2)} / ${ms(server.queue!.p99, 2)}, ` +
      `infer ${ms(server.infer!.p50, 2)} / ${ms(server.infer!.p99, 2)}), total ${ms(server.total!.p50, 2)} / ${ms(server.total!.p99, 2)}.`,
    "",
    `Target full/bare p50 ≤ ${TARGET_P50_RATIO}: **${met ? "met" : "not met"}** (${ratio(p50Ratio)}; p99 ratio ${ratio(p99Ratio)}).`,
  ].join("\n");

  const cdf = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const step = Math.max(1, Math.floor(sorted.length / 400));
    const points: [number, number][] = [];
    for (let i = 0; i < sorted.length; i += step) points.push([sorted[i]!, (i + 1) / sorted.length]);
    return points;
  };
  const xMax = Math.max(fullStat.p99, bareStat.p99) * 1.2;
  const chart = xyChart({
    title: "overhead: latency CDF, full path vs bare path (mlp-tiny, sequential)",
    xLabel: "latency (ms, client-measured)",
    yLabel: "fraction of requests",
    kind: "line",
    xMax,
    yMax: 1,
    series: [
      { name: `full (p50 ${ms(fullStat.p50, 1)})`, color: COLORS.full, points: cdf(lat(results.full)) },
      { name: `bare (p50 ${ms(bareStat.p50, 1)})`, color: COLORS.bare, points: cdf(lat(results.bare)) },
    ],
  });

  return {
    name: "overhead",
    markdown,
    data: { pairs, warmup, full: fullStat, bare: bareStat, p50Ratio, p99Ratio, target: TARGET_P50_RATIO, met, server, failures: failures.slice(0, 20) },
    charts: { "overhead-cdf.svg": chart },
  };
};
