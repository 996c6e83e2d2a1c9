/**
 * @module Scenarios `overload` and `overload-one-session`: tiers under load. Two stacks run side
 * by side, one with SCHEDULER_POLICY=tiered and one with fifo (the baseline: one queue, same
 * admission). `overload` gives each stack's ModelHost its own wrangler dev session and core
 * (split-stack.ts), as production keeps a Durable Object's thread apart from the router's;
 * `overload-one-session` runs each stack in one session, one thread. First one replica's
 * capacity is measured (closed loop, mlp-narrow with 96 rows per request in the binary
 * extension: ~30 ms of run for 12 KB each way, so the ModelHost's run, not moving bodies, is
 * the bottleneck), and what one refused request costs the stack; then Poisson arrivals at 1x, 2x
 * and 4x that capacity, a seeded mix of premium, standard and free tenants, the same arrivals for
 * both policies, the policies alternating level by level.
 */
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import type { Tier } from "../../config/tiers.ts";
import { TIERS } from "../../config/tiers.ts";
import { PORTS, sleep, type Scenario } from "./context.ts";
import { closedLoop, newAgent, openLoop, seeded, type Outcome, type RequestSpec } from "./load.ts";
import { isolateHostCore, type HostCore } from "./cpu-affinity.ts";
import {
  LEVELS,
  MIX,
  MODEL,
  MODEL_FILE,
  overloadBody,
  ROWS,
  TENANTS,
  TIER_ORDER,
  type Level,
  type Policy,
  type Run,
  type Sample,
  type Topology,
} from "./overload-config.ts";
import { report } from "./overload-report.ts";
import { SplitStack, type BenchStack } from "./split-stack.ts";
import { fixtureFile, type TenantKey } from "./stack.ts";
import { ms, pct, percentile, summarize, topMessages } from "./stats.ts";

/**
 * Seconds of arrivals per level. The target's level runs longest: at 4x premium sends about 23
 * requests a second, and "99.9% served" needs well over a thousand of them to mean anything.
 */
const LEVEL_SECONDS: Record<Level, number> = { 1: 10, 2: 10, 4: 60 };
const QUICK_LEVEL_SECONDS = 2.5;

/** Tenants, round-robin within a tier, and the request for each arrival. */
export function mixedRequests(
  keys: Record<Tier, TenantKey[]>,
  random: () => number,
  body: { body: Uint8Array; headers: Record<string, string> },
  path: string,
) {
  const next: Record<Tier, number> = { premium: 0, standard: 0, free: 0 };
  return (): RequestSpec => {
    const r = random();
    const tier: Tier = r < MIX.premium ? "premium" : r < MIX.premium + MIX.standard ? "standard" : "free";
    const list = keys[tier];
    const tenant = list[next[tier]++ % list.length]!;
    return {
      path,
      body: body.body,
      headers: { ...body.headers, authorization: `Bearer ${tenant.key}` },
      timeoutMs: TIERS[tier].defaultDeadlineMs + 2_000,
      label: tier,
    };
  };
}

async function prepare(stack: BenchStack): Promise<Record<Tier, TenantKey[]>> {
  await stack.upload(MODEL, "1", fixtureFile(MODEL_FILE), { maxBatch: ROWS, minReplicas: 1, maxReplicas: 1 });
  const keys = {} as Record<Tier, TenantKey[]>;
  for (const tier of TIER_ORDER) keys[tier] = await stack.tenants(tier, TENANTS[tier]);
  return keys;
}

/** Polls the host's queue length while `until` is pending. */
async function sampleQueue(stack: BenchStack, until: Promise<unknown>, origin: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  let done = false;
  void until.finally(() => (done = true));
  for (let i = 0; i < 400 && !done; i++) {
    try {
      const response = await fetch(`${stack.url}/admin/models/${MODEL}`, {
        headers: { authorization: `Bearer ${stack.adminToken}` },
        signal: AbortSignal.timeout(2_000),
      });
      const body = (await response.json()) as { hosts?: { load?: { queued: number; backlogMs: number } }[] };
      const load = body.hosts?.[0]?.load;
      if (load) samples.push({ t: performance.now() - origin, queued: load.queued, backlogMs: load.backlogMs });
    } catch {
      // a missed sample is fine
    }
    await sleep(250);
  }
  return samples;
}

/**
 * `withinDeadline`: answered 200 with the router's own Server-Timing total within the tier's
 * deadline (the platform's deadline starts when the router receives the request). `router*` and
 * `hostQueue*` are p50/p99 over successes of Server-Timing `total` and `queue` (the ModelHost's
 * scheduler queue); the rest of the client's latency was spent before the router.
 */
function tierSummaries(outcomes: Outcome[], elapsedMs: number): Run["byTier"] {
  const out = {} as Run["byTier"];
  for (const tier of TIER_ORDER) {
    const mine = outcomes.filter((o) => o.label === tier);
    const ok = mine.filter((o) => o.status === 200);
    const summary = summarize(mine);
    const withinDeadline = ok.filter((o) => (o.server?.total ?? Number.POSITIVE_INFINITY) <= TIERS[tier].defaultDeadlineMs).length;
    const router = ok.map((o) => o.server?.total ?? Number.NaN);
    const queue = ok.map((o) => o.server?.queue ?? Number.NaN);
    out[tier] = {
      ...summary,
      withinDeadline,
      offeredRps: mine.length / (elapsedMs / 1000),
      routerP50: percentile(router, 0.5),
      routerP99: percentile(router, 0.99),
      hostQueueP50: percentile(queue, 0.5),
      hostQueueP99: percentile(queue, 0.99),
    };
  }
  return out;
}

const HOST_PORTS: Record<Policy, number> = { tiered: PORTS.overloadTieredHost, fifo: PORTS.overloadFifoHost };

export const overloadIn =
  (topology: Topology): Scenario =>
  async ({ quick, log, startStack, track, signal }) => {
    const durationsMs = Object.fromEntries(LEVELS.map((level) => [level, (quick ? QUICK_LEVEL_SECONDS : LEVEL_SECONDS[level]) * 1000])) as Record<
      Level,
      number
    >;
    const splits: SplitStack[] = [];
    const start = async (policy: Policy, port: number): Promise<BenchStack> => {
      const options = { port, vars: { SCHEDULER_POLICY: policy }, label: `bench-${policy}`, signal };
      if (topology === "one-session") return startStack(options);
      const split = track(await SplitStack.start({ ...options, hostPort: HOST_PORTS[policy] }));
      splits.push(split);
      return split;
    };
    log(
      `overload (${topology}): starting two stacks (tiered on ${PORTS.overloadTiered}, fifo on ${PORTS.overloadFifo}${topology === "split" ? `, their hosts on ${HOST_PORTS.tiered} and ${HOST_PORTS.fifo}` : ""})`,
    );
    const stacks: Record<Policy, BenchStack> = { tiered: await start("tiered", PORTS.overloadTiered), fifo: await start("fifo", PORTS.overloadFifo) };
    const keys = { tiered: await prepare(stacks.tiered), fifo: await prepare(stacks.fifo) };
    // Load goes to the router Worker's own socket: wrangler's proxy in front of it is a dev-only
    // hop that would spend a share of this small machine's CPU on every request.
    const entry: Record<Policy, string> = { tiered: await stacks.tiered.entryUrl(), fifo: await stacks.fifo.entryUrl() };
    log(`overload: load goes to ${entry.tiered} (tiered) and ${entry.fifo} (fifo)`);
    // Split: the hosts get a core of their own, as a Durable Object's thread is its own in production.
    const cores =
      topology === "split"
        ? isolateHostCore(
            splits.map((s) => s.host.pid),
            splits.map((s) => s.router.pid),
          )
        : undefined;
    if (topology === "split")
      log(
        cores
          ? `overload: hosts pinned to cpu ${cores.host.join(",")}, routers and the load generator to cpu ${cores.rest.join(",")}`
          : "overload: could not pin the hosts to a core of their own (taskset missing or refused, or one core)",
      );
    try {
      return await measure({ topology, quick, log, signal, durationsMs, stacks, keys, entry, cores });
    } finally {
      cores?.release();
    }
  };

interface Setup {
  topology: Topology;
  quick: boolean;
  log: (line: string) => void;
  signal: AbortSignal;
  durationsMs: Record<Level, number>;
  stacks: Record<Policy, BenchStack>;
  keys: Record<Policy, Record<Tier, TenantKey[]>>;
  entry: Record<Policy, string>;
  cores: HostCore | undefined;
}

async function measure({ topology, quick, log, signal, durationsMs, stacks, keys, entry, cores }: Setup) {
  const body = overloadBody();
  const path = `/v2/models/${MODEL}/infer`;
  const capacitySpec = (policy: Policy): RequestSpec => ({
    path,
    body: body.body,
    headers: { ...body.headers, authorization: `Bearer ${keys[policy].premium[0]!.key}` },
    timeoutMs: 5_000,
  });

  // Capacity: a closed loop of 4 premium clients keeps the host busy without piling up work
  // (in one session the router shares the host's thread). On a shared machine one short
  // measurement can be off by a quarter, so the stacks alternate for a few rounds and the
  // reference is the median of every round (the two stacks run the same code for one tenant).
  const samples: Record<Policy, number[]> = { tiered: [], fifo: [] };
  for (const policy of ["tiered", "fifo"] as const) {
    await closedLoop({ signal, baseUrl: entry[policy], concurrency: 4, durationMs: quick ? 500 : 1_000, maxRequests: 500, next: () => capacitySpec(policy) });
  }
  for (let round = 0; round < (quick ? 1 : 3); round++) {
    for (const policy of round % 2 === 0 ? (["tiered", "fifo"] as const) : (["fifo", "tiered"] as const)) {
      const run = await closedLoop({
        signal,
        baseUrl: entry[policy],
        concurrency: 4,
        durationMs: quick ? 1_500 : 3_000,
        maxRequests: 2_000,
        next: () => capacitySpec(policy),
      });
      samples[policy].push(run.outcomes.filter((o) => o.status === 200).length / (run.elapsedMs / 1000));
    }
  }
  const capacity: Record<Policy, number> = { tiered: percentile(samples.tiered, 0.5), fifo: percentile(samples.fifo, 0.5) };
  for (const policy of ["tiered", "fifo"] as const) {
    log(`overload: ${policy} stack, closed-loop capacity ${samples[policy].map((c) => c.toFixed(1)).join(", ")} req/s (${ROWS} rows each)`);
  }
  const reference = percentile([...samples.tiered, ...samples.fifo], 0.5);

  // What one refused request costs the stack: premium requests whose deadline (1 ms) has passed
  // when they reach the host go through the whole router path and are refused with 504 there.
  const refusal = await closedLoop({
    signal,
    baseUrl: entry.tiered,
    concurrency: 8,
    durationMs: quick ? 1_000 : 2_000,
    maxRequests: 5_000,
    next: () => ({ ...capacitySpec("tiered"), headers: { ...capacitySpec("tiered").headers, [TIMEOUT_HEADER]: "1" } }),
  });
  const refusalRate = refusal.outcomes.length / (refusal.elapsedMs / 1000);
  const refusalStatuses = summarize(refusal.outcomes).statuses;
  log(
    `overload: refused requests, closed loop of 8: ${refusalRate.toFixed(0)} req/s (${(1000 / refusalRate).toFixed(1)} ms of the stack each), statuses ${JSON.stringify(refusalStatuses)}`,
  );

  const runs: Run[] = [];
  for (const level of LEVELS) {
    const durationMs = durationsMs[level];
    for (const policy of ["tiered", "fifo"] as const) {
      if (signal.aborted) throw new Error("aborted");
      const stack = stacks[policy];
      const ratePerSecond = reference * level;
      log(`overload: ${policy}, ${level}x = ${ratePerSecond.toFixed(0)} req/s for ${durationMs / 1000} s`);
      const before = await stack.hostCounters(MODEL);
      const random = seeded(1000 + level);
      const next = mixedRequests(keys[policy], seeded(2000 + level), body, path);
      const origin = performance.now();
      const agent = newAgent(2048);
      const load = openLoop({ signal, baseUrl: entry[policy], ratePerSecond, durationMs, random, next: () => next(), agent, maxOpen: 2048 });
      const samples = await sampleQueue(stack, load, origin);
      const { outcomes, elapsedMs, lagP99Ms } = await load;
      agent.destroy();
      const after = await stack.hostCounters(MODEL);
      const counters = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k as keyof typeof before] ?? 0)]));
      const arrivalMs = Math.min(elapsedMs, durationMs);
      const byTier = tierSummaries(outcomes, arrivalMs);
      runs.push({ policy, level, ratePerSecond, elapsedMs, arrivalMs, lagP99Ms, outcomes, samples, byTier, counters });
      log(
        `  ` +
          TIER_ORDER.map((t) => `${t} ${pct(byTier[t].successRate, 1)} ok, p99 ${ms(byTier[t].p99, 0)} ms`).join("; ") +
          ` (client lag p99 ${lagP99Ms.toFixed(0)} ms)`,
      );
      for (const tier of TIER_ORDER)
        for (const [message, count] of topMessages(
          outcomes.filter((o) => o.label === tier),
          2,
        ))
          log(`    ${tier}: ${count} x ${message}`);
      await sleep(1_500); // let the queue drain before the other stack's turn
    }
  }

  return report(topology, cores, runs, capacity, reference, durationsMs, { ratePerSecond: refusalRate, statuses: refusalStatuses });
}
