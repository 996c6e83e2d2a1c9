/**
 * @module Part 2 of the `start` scenario: the `npm start` stack offered 2.2x a compute-bound
 * model's capacity with the tier mix of the targets (premium 0.4 of capacity, standard 0.6, free
 * 1.2): 64 rows of a 48-1536-1536-1536-8 MLP per request, binary both ways, one replica. The
 * capacity and premium's unloaded p99 are measured first in the same run; then Poisson arrivals
 * of the three tiers, and every answer (or its absence) is counted.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Tier } from "../../config/tiers.ts";
import { MLP_TINY_SPEC } from "../models/catalog.ts";
import { generateMlp } from "../models/mlp.ts";
import { mlpRows, type Body } from "./bodies.ts";
import { closedLoop, newAgent, openLoop, seeded, send, type Outcome, type RequestSpec } from "./load.ts";
import type { NpmStartStack } from "./npm-start-stack.ts";
import { TENANTS, TIER_ORDER } from "./overload-config.ts";
import { overloadLatencyChart } from "./start-charts.ts";
import type { PartContext, PartResult } from "./start-part.ts";
import type { TenantKey } from "./stack.ts";
import { ms, pct, percentile, summarize, table, topMessages } from "./stats.ts";

export const COMPUTE_MODEL = "mlp-compute";
const LAYERS = [48, 1536, 1536, 1536, 8];
export const COMPUTE_ROWS = 64;
/** Offered load per tier, in multiples of the measured capacity (2.2x in all). */
export const OFFERED: Record<Tier, number> = { premium: 0.4, standard: 0.6, free: 1.2 };
export const TARGET_PREMIUM_SERVED = 0.99;
/** No answer within this is "unanswered": longer than any tier's deadline plus a refusal's way back. */
export const UNANSWERED_AFTER_MS = 10_000;

export const computeBody = (): Body => mlpRows(COMPUTE_ROWS, LAYERS[0]!);

/** Generates the MLP (20 MB, reproducible from its seed) and uploads it with one replica; max_batch 64 keeps a request one run. */
export async function uploadComputeModel(stack: NpmStartStack): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "hotpath-bench-mlp-"));
  try {
    const file = join(dir, "model.onnx");
    writeFileSync(file, generateMlp({ ...MLP_TINY_SPEC, layers: LAYERS, seed: 12 }));
    await stack.admin.uploadModel(COMPUTE_MODEL, "1", file, { placement: "edge", maxBatch: COMPUTE_ROWS, minReplicas: 1, maxReplicas: 1 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const computeSpec = (body: Body, tenant: TenantKey, timeoutMs = UNANSWERED_AFTER_MS): RequestSpec => ({
  path: `/v2/models/${COMPUTE_MODEL}/infer`,
  body: body.body,
  headers: { ...body.headers, authorization: `Bearer ${tenant.key}` },
  timeoutMs,
  label: tenant.tier,
});

/** Requests per second one replica serves: closed loops of 4 premium clients (enough to keep it busy without a pile-up), median of rounds. */
export async function measureCapacity({ stack, quick, signal }: PartContext, premium: TenantKey): Promise<{ capacity: number; rounds: number[] }> {
  const body = computeBody();
  const loop = (durationMs: number) =>
    closedLoop({ signal, baseUrl: stack.url, concurrency: 4, durationMs, maxRequests: 5_000, next: () => computeSpec(body, premium) });
  await loop(quick ? 1_000 : 2_000); // warm: the session loads, the JIT settles
  const rounds: number[] = [];
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    const run = await loop(quick ? 2_000 : 4_000);
    rounds.push(run.outcomes.filter((o) => o.status === 200).length / (run.elapsedMs / 1000));
  }
  return { capacity: percentile(rounds, 0.5), rounds };
}

export async function overloadPart(context: PartContext, capacity: number, keys: Record<Tier, TenantKey[]>): Promise<PartResult> {
  const { stack, quick, log, signal } = context;
  const body = computeBody();
  const unloadedCount = quick ? 30 : 150;
  const agent = newAgent(1);
  const unloaded: Outcome[] = [];
  for (let i = 0; i < unloadedCount && !signal.aborted; i++) unloaded.push(await send(stack.url, agent, computeSpec(body, keys.premium[0]!)));
  agent.destroy();
  const unloadedP99 = percentile(
    unloaded.filter((o) => o.status === 200).map((o) => o.latencyMs),
    0.99,
  );
  const bound = Math.max(100, 5 * unloadedP99);

  const total = Object.values(OFFERED).reduce((a, b) => a + b, 0);
  const rate = capacity * total;
  const durationMs = quick ? 8_000 : 40_000;
  log(`start/overload: ${total}x capacity = ${rate.toFixed(1)} req/s for ${durationMs / 1000} s (premium unloaded p99 ${ms(unloadedP99, 1)} ms)`);
  const next = { premium: 0, standard: 0, free: 0 };
  const pick = seeded(4242);
  const before = await stack.hostCounters(COMPUTE_MODEL);
  const load = await openLoop({
    signal,
    baseUrl: stack.url,
    ratePerSecond: rate,
    durationMs,
    random: seeded(2424),
    maxOpen: 4096,
    next: () => {
      const r = pick() * total;
      const tier: Tier = r < OFFERED.premium ? "premium" : r < OFFERED.premium + OFFERED.standard ? "standard" : "free";
      return computeSpec(body, keys[tier][next[tier]++ % keys[tier].length]!);
    },
  });
  const after = await stack.hostCounters(COMPUTE_MODEL);
  const byTier = Object.fromEntries(TIER_ORDER.map((tier) => [tier, summarize(load.outcomes.filter((o) => o.label === tier))])) as Record<
    Tier,
    ReturnType<typeof summarize>
  >;
  const unanswered = load.outcomes.filter((o) => o.status === 0).length;
  const premium = byTier.premium;
  for (const tier of TIER_ORDER)
    for (const [message, count] of topMessages(
      load.outcomes.filter((o) => o.label === tier),
      2,
    ))
      log(`    ${tier}: ${count} x ${message}`);

  const rows = TIER_ORDER.map((tier) => {
    const s = byTier[tier];
    return [tier, `${OFFERED[tier]}x`, String(s.count), pct(s.successRate, 1), ms(s.p50, 0), ms(s.p99, 0), JSON.stringify(s.statuses)];
  });
  const details = [
    table(["tier", "offered", "requests", "served", "p50 ms", "p99 ms", "statuses"], rows),
    "",
    `Capacity ${capacity.toFixed(1)} req/s; offered ${rate.toFixed(1)} req/s for ${durationMs / 1000} s; the client's arrivals ran late by ${load.lagP99Ms.toFixed(0)} ms at p99. ` +
      `Host counters over the run: ${Object.entries(after)
        .map(([k, v]) => `${k} ${v - (before[k as keyof typeof before] ?? 0)}`)
        .join(", ")}.`,
  ].join("\n");
  return {
    title: `Overload on the default stack: ${total}x a compute-bound model's capacity, tiers mixed`,
    method:
      `${COMPUTE_ROWS} rows of a ${LAYERS.join("-")} MLP per request (binary tensors both ways), one replica (max_batch ${COMPUTE_ROWS}: a request is one run). ` +
      `Capacity: closed loops of 4 premium clients, median of rounds. Premium's unloaded p99: ${unloadedCount} requests one at a time. ` +
      `Then Poisson arrivals at ${total}x capacity, premium ${OFFERED.premium}, standard ${OFFERED.standard}, free ${OFFERED.free} of it, over ` +
      `${TENANTS.premium}, ${TENANTS.standard} and ${TENANTS.free} tenants (so per-tenant rate limits stay out of the way); latencies at the client, successes only; ` +
      `a request with no answer within ${UNANSWERED_AFTER_MS / 1000} s is unanswered.`,
    details,
    targets: [
      {
        what: "premium served",
        measured: pct(premium.successRate, 2),
        target: `>= ${pct(TARGET_PREMIUM_SERVED, 0)}`,
        met: premium.successRate >= TARGET_PREMIUM_SERVED,
      },
      {
        what: "premium p99 under overload",
        measured: `${ms(premium.p99, 0)} ms (unloaded p99 ${ms(unloadedP99, 1)} ms)`,
        target: `<= ${ms(bound, 0)} ms (max(100, 5x unloaded))`,
        met: premium.p99 <= bound,
      },
      { what: "requests with no answer, all tiers", measured: String(unanswered), target: "0", met: unanswered === 0 },
    ],
    data: { capacity, unloadedP99, bound, rate, durationMs, lagP99Ms: load.lagP99Ms, byTier, unanswered, counters: { before, after } },
    charts: { "start-overload-latency.svg": overloadLatencyChart(load.outcomes, bound) },
  };
}

export async function overloadTenants(stack: NpmStartStack): Promise<Record<Tier, TenantKey[]>> {
  const keys = {} as Record<Tier, TenantKey[]>;
  for (const tier of TIER_ORDER) keys[tier] = await stack.tenants(tier, TENANTS[tier], `overload-${tier}`);
  return keys;
}
