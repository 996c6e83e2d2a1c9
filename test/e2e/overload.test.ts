/**
 * @module End to end, against a real `wrangler dev` (on a free port, its own state dir and env
 * file): premium, standard and free tenants at about twice one replica's capacity (measured
 * first) for a few seconds.
 *
 * - Premium: at least 99% of requests succeed within their deadline (1000 ms), i.e. at most 1 in
 *   100 may miss on a loaded 2-core machine (with ~60 premium requests: none). The deadline is the
 *   platform's: it starts when the router receives the request, so "within" is read from the
 *   router's own Server-Timing `total`. Under wrangler dev a request first waits for wrangler's
 *   proxy and miniflare's entry Worker, which share one thread with the model's runs; that wait
 *   is bounded by the next check, not by the deadline.
 * - Every request gets an answer within its deadline + 2 s (client timeout), and no 5xx but 503/504.
 * - Free: shed with 429 or 503, always with Retry-After.
 *
 * A client that goes away while its request is queued is not tested here: under wrangler dev the
 * Worker never learns of it. wrangler's proxy Worker and miniflare's entry Worker (compatibility
 * date 2025-03-17, without enable_request_signal or request_signal_passthrough) forward each
 * request to the router as a new subrequest, so the router's request.signal never fires, whether
 * the client resets its connection to wrangler's port or to the Worker's own entry socket. The
 * router's cancel path is tested inside workerd instead (test/workerd/scheduling.test.ts,
 * "a client that aborts while its request is queued").
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { TIERS, type Tier } from "../../config/tiers.ts";
import { mlpWideRows } from "../../scripts/bench/bodies.ts";
import { closedLoop, openLoop, seeded, type Outcome, type RequestSpec } from "../../scripts/bench/load.ts";
import { fixtureFile, Stack, type TenantKey } from "../../scripts/bench/stack.ts";
import { percentile } from "../../scripts/bench/stats.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { freePort } from "./harness/ports.ts";

const MODEL = "mlp-wide";
/** Rows per request: enough that the model's run, not the router's work per request, sets capacity. */
const ROWS = 128;
const LOAD_FACTOR = 2;
const LOAD_MS = 8_000;
const PREMIUM_WITHIN_DEADLINE = 0.99;
const TENANTS: Record<Tier, number> = { premium: 2, standard: 3, free: 8 };
/**
 * Share of requests per tier. Premium and standard together ask for 1x capacity, so at 2x the
 * free half is what must be shed; premium alone is half of capacity.
 */
const MIX: Record<Tier, number> = { premium: 0.25, standard: 0.25, free: 0.5 };
const TIER_ORDER: Tier[] = ["premium", "standard", "free"];

const cleanup = new Cleanup();
let stack: Stack | undefined;
let keys: Record<Tier, TenantKey[]>;

before(
  async () => {
    stack = await cleanup.start(Stack.start({ port: await freePort(), label: "e2e-overload", signal: cleanup.signal }), (started) => started.stop());
    await stack.upload(MODEL, "1", fixtureFile("mlp-wide.onnx"), { maxBatch: ROWS, minReplicas: 1, maxReplicas: 1 });
    keys = { premium: [], standard: [], free: [] };
    for (const tier of TIER_ORDER) keys[tier] = await stack.tenants(tier, TENANTS[tier]);
  },
  { timeout: 150_000 },
);

after(() => cleanup.run(), { timeout: 60_000 });

let wideBody: ReturnType<typeof mlpWideRows> | undefined;

function wideRequest(tier: Tier, tenant: TenantKey): RequestSpec {
  const body = (wideBody ??= mlpWideRows(ROWS));
  return {
    path: `/v2/models/${MODEL}/infer`,
    body: body.body,
    headers: { ...body.headers, authorization: `Bearer ${tenant.key}` },
    timeoutMs: TIERS[tier].defaultDeadlineMs + 2_000,
    label: tier,
  };
}

function describe(outcomes: Outcome[]): string {
  const lines = TIER_ORDER.map((tier) => {
    const mine = outcomes.filter((o) => o.label === tier);
    const statuses: Record<string, number> = {};
    for (const o of mine) statuses[o.status] = (statuses[o.status] ?? 0) + 1;
    const ok = mine.filter((o) => o.status === 200);
    const client = ok.map((o) => o.latencyMs);
    const router = ok.map((o) => o.server?.total ?? Number.NaN);
    return (
      `${tier}: ${mine.length} requests ${JSON.stringify(statuses)}, successes p50/p99: client ${percentile(client, 0.5).toFixed(0)}/${percentile(client, 0.99).toFixed(0)} ms, ` +
      `router ${percentile(router, 0.5).toFixed(0)}/${percentile(router, 0.99).toFixed(0)} ms`
    );
  });
  const messages = [
    ...new Set(outcomes.filter((o) => o.status !== 200).map((o) => `${o.label} ${o.status}: ${o.message ?? o.error}`.replace(/\d+(\.\d+)?/g, "N"))),
  ];
  return [...lines, ...messages.slice(0, 10)].join("\n");
}

test("overload at 2x one replica's capacity: premium served in time, free shed, every request answered", { timeout: 60_000 }, async () => {
  assert.ok(stack);
  const url = stack.url;
  // Capacity: 4 closed-loop premium clients, after a warm-up; bounded in time and requests. The
  // better of two windows, so a moment of noise on a shared machine does not make "2x" an underload.
  const capacitySpec = () => wideRequest("premium", keys.premium[0]!);
  await closedLoop({ baseUrl: url, concurrency: 4, durationMs: 1_000, maxRequests: 300, next: capacitySpec });
  let capacity = 0;
  for (let window = 0; window < 2; window++) {
    const measured = await closedLoop({ baseUrl: url, concurrency: 4, durationMs: 1_500, maxRequests: 1_000, next: capacitySpec });
    const failed = measured.outcomes.filter((o) => o.status !== 200);
    assert.equal(failed.length, 0, `requests failed while measuring capacity:\n${describe(measured.outcomes)}`);
    capacity = Math.max(capacity, measured.outcomes.length / (measured.elapsedMs / 1000));
  }
  assert.ok(capacity > 2, `capacity ${capacity.toFixed(1)} req/s is too low to test with`);
  await new Promise((r) => setTimeout(r, 500));

  // The mix above, spread over tenants so the free tier's 10/s per tenant does not decide
  // alone; the same seed every run.
  const tierOf = seeded(7);
  const next: Record<Tier, number> = { premium: 0, standard: 0, free: 0 };
  const { outcomes } = await openLoop({
    baseUrl: url,
    ratePerSecond: capacity * LOAD_FACTOR,
    durationMs: LOAD_MS,
    random: seeded(11),
    next: () => {
      const r = tierOf();
      const tier: Tier = r < MIX.premium ? "premium" : r < MIX.premium + MIX.standard ? "standard" : "free";
      return wideRequest(tier, keys[tier][next[tier]++ % keys[tier].length]!);
    },
  });
  const report = `capacity ${capacity.toFixed(1)} req/s, offered ${(capacity * LOAD_FACTOR).toFixed(1)} req/s for ${LOAD_MS / 1000} s\n${describe(outcomes)}`;
  const of = (tier: Tier) => outcomes.filter((o) => o.label === tier);

  const unanswered = outcomes.filter((o) => o.status === 0);
  assert.equal(unanswered.length, 0, `requests without an answer within deadline + 2 s:\n${report}`);
  const bad = outcomes.filter((o) => ![200, 429, 503, 504].includes(o.status));
  assert.equal(bad.length, 0, `statuses other than 200/429/503/504:\n${report}`);

  const premium = of("premium");
  const inTime = premium.filter((o) => o.status === 200 && (o.server?.total ?? Number.POSITIVE_INFINITY) <= TIERS.premium.defaultDeadlineMs).length;
  assert.ok(premium.length >= 30, `too few premium requests to judge: ${report}`);
  assert.ok(
    inTime >= PREMIUM_WITHIN_DEADLINE * premium.length,
    `premium within its deadline: ${inTime}/${premium.length} (< ${PREMIUM_WITHIN_DEADLINE * 100}%)\n${report}`,
  );

  const free = of("free");
  const refused = free.filter((o) => o.status === 429 || o.status === 503);
  assert.ok(
    refused.every((o) => o.retryAfter !== undefined && Number(o.retryAfter) > 0),
    `a free refusal without Retry-After:\n${report}`,
  );
  // Premium and standard alone ask for 1x capacity: the free tier should get little or nothing.
  const freeServed = free.filter((o) => o.status === 200).length;
  assert.ok(refused.length >= 0.5 * free.length, `free refused (429/503): ${refused.length}/${free.length}, expected at least half\n${report}`);
  assert.ok(freeServed / free.length < inTime / premium.length, `free was served as well as premium:\n${report}`);
  console.log(report);
});
