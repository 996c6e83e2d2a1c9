/**
 * @module Part 3 of the `start` scenario: fair share between two tenants of one tier, end to end
 * on the `npm start` stack. On the compute-bound model with one replica, one standard tenant
 * floods (10 clients in a closed loop) while another sends a trickle (one request every 150 ms,
 * whatever the answers do). A fair queue serves the trickle's request after at most about one
 * run of the flood's; one FIFO queue makes it wait behind all ten.
 */
import { closedLoop, newAgent, send, type Outcome } from "./load.ts";
import { computeBody, computeSpec, COMPUTE_MODEL } from "./start-overload.ts";
import { fairnessLatencyChart } from "./start-charts.ts";
import type { PartContext, PartResult } from "./start-part.ts";
import { ms, percentile, ratio, summarize, table, topMessages } from "./stats.ts";

const FLOOD_CLIENTS = 10;
const TRICKLE_EVERY_MS = 150;
export const TARGET_TRICKLE_RATIO = 0.5;

export async function fairnessPart({ stack, quick, log, signal }: PartContext): Promise<PartResult> {
  const [flooder, trickler] = await stack.tenants("standard", 2, "fair-standard");
  const body = computeBody();
  const durationMs = quick ? 6_000 : 25_000;
  log(`start/fairness: ${FLOOD_CLIENTS} flood clients beside a trickle every ${TRICKLE_EVERY_MS} ms for ${durationMs / 1000} s`);
  const before = await stack.hostCounters(COMPUTE_MODEL);
  const floodStartedAt = performance.now();
  const flood = closedLoop({
    signal,
    baseUrl: stack.url,
    concurrency: FLOOD_CLIENTS,
    durationMs,
    maxRequests: 100_000,
    next: () => computeSpec(body, flooder!),
  });
  // The flood fills the queue first; the trickle then runs inside it and stops before it does.
  await new Promise((r) => setTimeout(r, 1_000));
  const agent = newAgent(64);
  const trickle: Promise<Outcome>[] = [];
  const trickleEnd = performance.now() + durationMs - 2_000;
  while (performance.now() < trickleEnd && !signal.aborted) {
    trickle.push(send(stack.url, agent, computeSpec(body, trickler!), floodStartedAt));
    await new Promise((r) => setTimeout(r, TRICKLE_EVERY_MS));
  }
  const trickleOutcomes = await Promise.all(trickle);
  const floodOutcomes = (await flood).outcomes;
  agent.destroy();
  const after = await stack.hostCounters(COMPUTE_MODEL);
  const t = summarize(trickleOutcomes);
  const f = summarize(floodOutcomes);
  for (const [who, outcomes] of [
    ["trickle", trickleOutcomes],
    ["flood", floodOutcomes],
  ] as const)
    for (const [message, count] of topMessages(outcomes, 2)) log(`    ${who}: ${count} x ${message}`);
  const queueP50 = (outcomes: Outcome[]) =>
    percentile(
      outcomes.flatMap((o) => (o.status === 200 && o.server?.queue !== undefined ? [o.server.queue] : [])),
      0.5,
    );
  const p50Ratio = t.p50 / f.p50;
  const row = (who: string, s: typeof t, outcomes: Outcome[]) => [
    who,
    String(s.count),
    String(s.ok),
    ms(s.p50, 0),
    ms(s.p99, 0),
    ms(queueP50(outcomes), 0),
    JSON.stringify(s.statuses),
  ];
  return {
    title: "Fair share end to end: a standard tenant's trickle beside another standard tenant's flood",
    method:
      `The compute-bound model of the overload part, one replica. One standard tenant floods with ${FLOOD_CLIENTS} clients in a closed loop for ${durationMs / 1000} s; ` +
      `from 1 s in, another standard tenant sends one request every ${TRICKLE_EVERY_MS} ms without waiting for answers. Latencies at the client, successes only; ` +
      `host queue is the ModelHost's Server-Timing \`queue\`.`,
    details: [
      table(
        ["tenant", "requests", "served", "p50 ms", "p99 ms", "host queue p50 ms", "statuses"],
        [row("trickle", t, trickleOutcomes), row(`flood (${FLOOD_CLIENTS} clients)`, f, floodOutcomes)],
      ),
      "",
      `Host counters over the run: ${Object.entries(after)
        .map(([k, v]) => `${k} ${v - (before[k as keyof typeof before] ?? 0)}`)
        .join(", ")}.`,
    ].join("\n"),
    targets: [
      {
        what: "trickle p50 / flood p50",
        measured: `${ratio(p50Ratio)} (${ms(t.p50, 0)} / ${ms(f.p50, 0)} ms)`,
        target: `<= ${TARGET_TRICKLE_RATIO}`,
        met: p50Ratio <= TARGET_TRICKLE_RATIO,
      },
    ],
    data: { durationMs, floodClients: FLOOD_CLIENTS, trickleEveryMs: TRICKLE_EVERY_MS, trickle: t, flood: f, p50Ratio, counters: { before, after } },
    charts: { "start-fairness-latency.svg": fairnessLatencyChart(trickleOutcomes, floodOutcomes) },
  };
}
