/**
 * @module Scenario `variants`: what mlp-heavy's int8 variant buys on the `npm start` stack (its
 * origin runs the fp32 default, the int8 copy runs at the edge). Sizes and the accuracy the
 * platform recorded; latency one request at a time, pinned `default` and pinned `int8`
 * interleaved; the default's capacity (closed loop of standard tenants pinning `default`); then
 * the INFaaS comparison: Poisson arrivals at 4x that capacity, the same seeded arrivals for both
 * settings in alternating order over rounds, "with degradation" (standard tenants naming no
 * variant: their tier may degrade them) against "without" (the same requests pinning `default`).
 */
import { loadavg } from "node:os";
import { PORTS, sleep, type Scenario } from "./context.ts";
import { closedLoop, newAgent, openLoop, seeded, send, type Outcome, type RequestSpec } from "./load.ts";
import { NpmStartStack } from "./npm-start-stack.ts";
import type { TenantKey } from "./stack.ts";
import { percentile, topMessages } from "./stats.ts";
import { variantsReport, type LatencyRun, type OverloadRun, type Setting } from "./variants-report.ts";
import { DEADLINE_MS, ensureVariant, heavyBody, heavyFiles, MODEL, OVERLOAD, VARIANT } from "./variants-setup.ts";
import { summarizeOverload } from "./variants-summary.ts";

const LATENCY_ROWS = [1, 64] as const;
/**
 * Enough clients to saturate the default: the origin batches what arrives together, so a handful
 * of clients measures their round trips, not what the stack can serve (two per tenant: well
 * under a standard tenant's in-flight and rate limits).
 */
const CAPACITY_CLIENTS = 32;
const CAPACITY_TENANTS = 16;
/**
 * Tenants per request rate: a standard tenant may send 100 req/s (burst 200) with 64 in flight
 * per router isolate, and under overload each may wait up to the 2 s deadline, so one tenant per
 * 25 req/s keeps the limiter out of the way and leaves the choice to the platform.
 */
const REQUESTS_PER_TENANT = 25;

const path = `/v2/models/${MODEL}/infer`;
const spec = (body: ReturnType<typeof heavyBody>, tenant: TenantKey, label: string): RequestSpec => ({
  path,
  body: body.body,
  headers: { ...body.headers, authorization: `Bearer ${tenant.key}` },
  timeoutMs: DEADLINE_MS + 2_000,
  label,
});
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);

export const variants: Scenario = async ({ quick, log, signal, track }) => {
  const files = heavyFiles();
  log(`variants: npm start on ${PORTS.variantsEdge} (origin ${PORTS.variantsOrigin})`);
  const stack = track(await NpmStartStack.start({ port: PORTS.variantsEdge, originPort: PORTS.variantsOrigin, signal }));
  const { variant, uploaded } = await ensureVariant(stack, files);
  log(`variants: ${MODEL} ${VARIANT} ${uploaded ? "uploaded by the scenario" : "already registered"}: ${JSON.stringify(variant.accuracy)}`);
  const tenants = await stack.tenants("standard", CAPACITY_TENANTS, "variants");

  // 1. Latency, one request at a time, the two settings interleaved so drift hits both alike.
  const latency: LatencyRun[] = [];
  const count = quick ? 20 : 100;
  const agent = newAgent(1);
  for (const rows of LATENCY_ROWS) {
    const bodies: Record<string, ReturnType<typeof heavyBody>> = { default: heavyBody(rows, "default"), [VARIANT]: heavyBody(rows, VARIANT) };
    const runs = Object.keys(bodies).map((pinned) => ({ rows, pinned, outcomes: [] as Outcome[] }));
    for (let i = 0; i < count + 3 && !signal.aborted; i++) {
      for (const run of i % 2 === 0 ? runs : [...runs].reverse()) {
        const outcome = await send(stack.url, agent, spec(bodies[run.pinned]!, tenants[0]!, run.pinned), undefined, signal);
        if (i >= 3) run.outcomes.push(outcome); // the first ones warm the session and the sockets
      }
    }
    latency.push(...runs);
    for (const run of runs) log(`variants: ${rows} row(s), pinned ${run.pinned}: p50 ${percentile(ok(run.outcomes), 0.5).toFixed(1)} ms`);
  }
  agent.destroy();

  /** Unloaded client p50 of 1 row, per pinned setting: what "drained" means between overload runs. */
  const unloaded = Object.fromEntries(latency.filter((r) => r.rows === 1).map((r) => [r.pinned, percentile(ok(r.outcomes), 0.5)]));

  // 2. The default's capacity: closed loops of standard tenants pinning `default`, median of rounds.
  const pinnedDefault = heavyBody(1, "default");
  const capacityLoop = (durationMs: number) =>
    closedLoop({
      signal,
      baseUrl: stack.url,
      concurrency: CAPACITY_CLIENTS,
      durationMs,
      maxRequests: 20_000,
      next: (i) => spec(pinnedDefault, tenants[i % tenants.length]!, "capacity"),
    });
  await capacityLoop(quick ? 1_000 : 2_000);
  const capacityRounds: number[] = [];
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    const run = await capacityLoop(quick ? 2_000 : 4_000);
    capacityRounds.push(run.outcomes.filter((o) => o.status === 200).length / (run.elapsedMs / 1000));
  }
  const capacity = percentile(capacityRounds, 0.5);
  log(`variants: default capacity ${capacityRounds.map((c) => c.toFixed(1)).join(", ")} req/s (closed loop of ${CAPACITY_CLIENTS})`);

  // 3. Overload: the same seeded arrivals and tenants for both settings, the order alternating by round.
  const rate = capacity * OVERLOAD;
  const needed = Math.max(CAPACITY_TENANTS, Math.ceil(rate / REQUESTS_PER_TENANT));
  const crowd = [...tenants, ...(needed > tenants.length ? await stack.tenants("standard", needed - tenants.length, "variants-more") : [])];
  const bodies: Record<Setting, ReturnType<typeof heavyBody>> = { "with degradation": heavyBody(1), without: heavyBody(1, "default") };
  const durationMs = quick ? 5_000 : 15_000;
  const rounds = quick ? 1 : 3;
  const overload: OverloadRun[] = [];
  for (let round = 0; round < rounds; round++) {
    const order: Setting[] = round % 2 === 0 ? ["with degradation", "without"] : ["without", "with degradation"];
    for (const setting of order) {
      if (signal.aborted) throw new Error("aborted");
      const loadAtStart = load();
      log(
        `variants: round ${round + 1}, ${setting}: ${rate.toFixed(1)} req/s for ${durationMs / 1000} s over ${crowd.length} tenants (load ${loadAtStart.join(" ")})`,
      );
      const runAgent = newAgent(4096);
      const run = await openLoop({
        signal,
        baseUrl: stack.url,
        ratePerSecond: rate,
        durationMs,
        random: seeded(7_000 + round),
        next: (i) => spec(bodies[setting], crowd[i % crowd.length]!, setting),
        agent: runAgent,
        maxOpen: 4096,
      });
      runAgent.destroy();
      overload.push({ round: round + 1, setting, ratePerSecond: rate, loadAtStart, ...run });
      const s = summarizeOverload(run.outcomes, DEADLINE_MS);
      log(`  ${s.withinDeadline}/${s.sent} within ${DEADLINE_MS} ms, ${s.degraded} degraded, ${s.refused503} x 503, p99 ${s.p99.toFixed(0)} ms`);
      for (const [message, n] of topMessages(run.outcomes)) log(`    ${n} x ${message}`);
      // Requests the client gave up on may still be queued at the origin: the next run must not inherit them.
      const settledMs = await settle(stack.url, tenants[0]!, unloaded, signal);
      log(`  drained in ${(settledMs / 1000).toFixed(1)} s`);
    }
  }
  return variantsReport({
    quick,
    files,
    variant,
    uploaded,
    latency,
    capacity,
    capacityRounds,
    capacityClients: CAPACITY_CLIENTS,
    capacityTenants: CAPACITY_TENANTS,
    overload,
    durationMs,
  });
};

function ok(outcomes: readonly Outcome[]): number[] {
  return outcomes.filter((o) => o.status === 200).map((o) => o.latencyMs);
}

const SETTLE_LIMIT_MS = 60_000;

/**
 * Waits until a pinned request of each setting (1 row) answers within 3x its unloaded p50 (at
 * least 50 ms more), so no queue is left from the run before; gives up after a minute. Returns
 * the time it took.
 */
async function settle(baseUrl: string, tenant: TenantKey, unloaded: Record<string, number>, signal: AbortSignal): Promise<number> {
  const started = performance.now();
  const agent = newAgent(1);
  try {
    for (const [pinned, p50] of Object.entries(unloaded)) {
      const bound = Math.max(3 * p50, p50 + 50);
      const body = heavyBody(1, pinned);
      while (performance.now() - started < SETTLE_LIMIT_MS && !signal.aborted) {
        const outcome = await send(baseUrl, agent, spec(body, tenant, "settle"), undefined, signal);
        if (outcome.status === 200 && outcome.latencyMs <= bound) break;
        await sleep(250);
      }
    }
  } finally {
    agent.destroy();
  }
  return performance.now() - started;
}
