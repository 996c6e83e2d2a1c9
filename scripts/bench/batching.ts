/**
 * @module Scenario `batching`: throughput at saturation with dynamic batching on and off. Each
 * model is uploaded twice on one stack, with its max_batch (mlp-tiny 64, silero-vad 16) and with
 * max_batch 1, no queue delay; 32 closed-loop clients send one row (mlp-tiny) or one 32 ms frame
 * (silero-vad) per request, spread over premium tenants so no rate limit is hit. On and off
 * alternate in rounds so drift on a noisy machine hits both alike.
 */
import { mlpTinyRow, sileroFrame, type Body } from "./bodies.ts";
import { PORTS, type Scenario } from "./context.ts";
import { closedLoop, type RequestSpec } from "./load.ts";
import { modelFile, type TenantKey } from "./stack.ts";
import { describeRounds, ms, ratio, table, topMessages, type Round } from "./stats.ts";
import { barChart, COLORS } from "./svg.ts";

const CONCURRENCY = 32;

interface Case {
  model: string;
  maxBatch: number;
  body: Body;
}

export const batching: Scenario = async ({ quick, log, startStack, signal }) => {
  const rounds = quick ? 1 : 3;
  const roundMs = quick ? 1_500 : 4_000;
  log(`batching: starting a stack on ${PORTS.batching}`);
  const stack = await startStack({ port: PORTS.batching, label: "bench-batching" });
  const cases: Case[] = [
    { model: "mlp-tiny", maxBatch: 64, body: mlpTinyRow() },
    { model: "silero-vad", maxBatch: 16, body: sileroFrame() },
  ];
  for (const c of cases) {
    await stack.upload(c.model, "1", modelFile(c.model), { maxBatch: c.maxBatch, maxReplicas: 1 });
    await stack.upload(`${c.model}-nobatch`, "1", modelFile(c.model), { maxBatch: 1, maxReplicas: 1 });
  }
  const tenants: TenantKey[] = await stack.tenants("premium", 8, "batching");
  const spec = (model: string, body: Body) => {
    let k = 0;
    return (): RequestSpec => ({
      path: `/v2/models/${model}/infer`,
      body: body.body,
      headers: { ...body.headers, authorization: `Bearer ${tenants[k++ % tenants.length]!.key}` },
      timeoutMs: 10_000,
    });
  };

  const results: { model: string; maxBatch: number; on: Round[]; off: Round[] }[] = [];
  for (const c of cases) {
    const on = spec(c.model, c.body);
    const off = spec(`${c.model}-nobatch`, c.body);
    for (const next of [on, off])
      await closedLoop({ signal, baseUrl: stack.url, concurrency: CONCURRENCY, durationMs: quick ? 500 : 1_000, maxRequests: 20_000, next }); // warm-up
    const result = { model: c.model, maxBatch: c.maxBatch, on: [] as Round[], off: [] as Round[] };
    for (let r = 0; r < rounds; r++) {
      for (const which of r % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const)) {
        const run = await closedLoop({
          signal,
          baseUrl: stack.url,
          concurrency: CONCURRENCY,
          durationMs: roundMs,
          maxRequests: 100_000,
          next: which === "on" ? on : off,
        });
        const ok = run.outcomes.filter((o) => o.status === 200).length;
        result[which].push({ throughput: ok / (run.elapsedMs / 1000), outcomes: run.outcomes });
        log(`batching: ${c.model} batching ${which}, round ${r + 1}/${rounds}: ${(ok / (run.elapsedMs / 1000)).toFixed(0)} req/s`);
        for (const [message, count] of topMessages(run.outcomes, 3)) log(`    failed: ${count} x ${message}`);
        const firstFailure = run.outcomes.find((o) => o.status !== 200);
        if (firstFailure)
          log(
            `    first failure, ${firstFailure.sentAt.toFixed(0)} ms into the round: ${firstFailure.status} ${firstFailure.message ?? firstFailure.error ?? ""}`,
          );
      }
    }
    results.push(result);
  }

  const summary = results.map((r) => ({ model: r.model, maxBatch: r.maxBatch, on: describeRounds(r.on), off: describeRounds(r.off) }));
  const row = (model: string, label: string, d: (typeof summary)[number]["on"]) => [
    model,
    label,
    d.throughput.toFixed(0),
    d.throughputs.join(", "),
    ms(d.meanBatch, 1),
    ms(d.p50, 1),
    ms(d.p99, 1),
    String(d.failed),
  ];
  const rows = summary.flatMap((s) => [
    row(s.model, `on (max_batch ${s.maxBatch})`, s.on),
    row(s.model, "off (max_batch 1)", s.off),
    [
      `**${s.model}**`,
      "**on / off**",
      `**${ratio(s.on.throughput / s.off.throughput)}**`,
      "",
      "",
      ratio(s.on.p50 / s.off.p50),
      ratio(s.on.p99 / s.off.p99),
      "",
    ],
  ]);
  const markdown = [
    `### batching: throughput at saturation, dynamic batching on vs off`,
    "",
    `${CONCURRENCY} closed-loop clients over ${tenants.length} premium tenants, ${rounds} round(s) of ${roundMs / 1000} s per setting, on and off alternating; ` +
      `throughput is the median over rounds of successful requests per second. mlp-tiny: 1 row per request; silero-vad: one 576-sample frame with its state per request. ` +
      `No max_queue_delay: batches form from what queues while a run is in progress.`,
    "",
    table(["model", "batching", "req/s (median)", "req/s per round", "rows per run (mean per request)", "p50 ms", "p99 ms", "failed"], rows),
  ].join("\n");
  const chart = barChart({
    title: `batching: throughput at saturation (${CONCURRENCY} clients)`,
    yLabel: "requests per second",
    groups: summary.map((s) => ({
      label: s.model,
      bars: [
        { name: "batching on", color: COLORS.on, value: s.on.throughput },
        { name: "batching off (max_batch 1)", color: COLORS.off, value: s.off.throughput },
      ],
    })),
  });
  return { name: "batching", markdown, data: { concurrency: CONCURRENCY, rounds, roundMs, results: summary }, charts: { "batching-throughput.svg": chart } };
};
