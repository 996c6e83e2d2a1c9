/**
 * @module End to end, against a real `wrangler dev` (port 8851, its own state dir and env file):
 * premium, standard and free tenants at about twice one replica's capacity (measured first) for
 * a few seconds, then a client that goes away while its request waits in the queue.
 *
 * - Premium: at least 99% of requests succeed within their deadline (1000 ms), i.e. at most 1 in
 *   100 may miss on a loaded 2-core machine (with ~60 premium requests: none). The deadline is the
 *   platform's: it starts when the router receives the request, so "within" is read from the
 *   router's own Server-Timing `total`. Under wrangler dev a request first waits for wrangler's
 *   proxy and miniflare's entry Worker, which share one thread with the model's runs; that wait
 *   is bounded by the next check, not by the deadline.
 * - Every request gets an answer within its deadline + 2 s (client timeout), and no 5xx but 503/504.
 * - Free: shed with 429 or 503, always with Retry-After.
 * - Cancellation: a queued request whose client resets the connection is dropped
 *   (`GET /admin/models/{m}` -> `hosts[0].counters.cancelled` goes up, `completed` does not).
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { TIERS, type Tier } from "../../config/tiers.ts";
import { mlpTinyRow, mlpWideRows } from "../../scripts/bench/bodies.ts";
import { closedLoop, openLoop, seeded, type Outcome, type RequestSpec } from "../../scripts/bench/load.ts";
import { fixtureFile, modelFile, Stack, type TenantKey } from "../../scripts/bench/stack.ts";
import { percentile } from "../../scripts/bench/stats.ts";

const PORT = 8851;
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
/**
 * Under wrangler dev, the Worker never learns that a client went away: wrangler's proxy Worker
 * and miniflare's entry Worker (compat date 2025-03-17, without enable_request_signal or
 * request_signal_passthrough) forward each request to the router as a new subrequest, so the
 * router's request.signal never fires; a reset or a close by the client, to wrangler's port or
 * to miniflare's entry socket, leaves the queued job to run. workerd itself fires
 * request.signal on a connection reset (not on a graceful close) when the receiving Worker has
 * enable_request_signal, and passes it on through a service binding with
 * request_signal_passthrough. The assertion stays as strict as in production; the subtest is
 * marked todo so this known gap in the local runtime shows in the report without failing the run.
 */
const CANCEL_TODO = "wrangler dev does not deliver client disconnects to the Worker's request.signal (see the comment above CANCEL_TODO)";

let stack: Stack | undefined;
let keys: Record<Tier, TenantKey[]>;

before(async () => {
  stack = await Stack.start({ port: PORT, label: "e2e-overload" });
  await stack.upload(MODEL, "1", fixtureFile("mlp-wide.onnx"), { maxBatch: ROWS, minReplicas: 1, maxReplicas: 1 });
  // A batching model that holds a lone request up to 1 s for company: a request that waits in the queue.
  await stack.upload("mlp-hold", "1", modelFile("mlp-tiny"), { maxBatch: 64, maxQueueDelayMicroseconds: 1_000_000, maxReplicas: 1 });
  keys = { premium: [], standard: [], free: [] };
  for (const tier of TIER_ORDER) keys[tier] = await stack.tenants(tier, TENANTS[tier]);
}, { timeout: 150_000 });

after(async () => {
  await stack?.stop();
});

let wideBody: ReturnType<typeof mlpWideRows> | undefined;

function wideRequest(tier: Tier, tenant: TenantKey): RequestSpec {
  const body = (wideBody ??= mlpWideRows(ROWS));
  return { path: `/v2/models/${MODEL}/infer`, body: body.body, headers: { ...body.headers, authorization: `Bearer ${tenant.key}` }, timeoutMs: TIERS[tier].defaultDeadlineMs + 2_000, label: tier };
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
  const messages = [...new Set(outcomes.filter((o) => o.status !== 200).map((o) => `${o.label} ${o.status}: ${o.message ?? o.error}`.replace(/\d+(\.\d+)?/g, "N")))];
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
  assert.ok(inTime >= PREMIUM_WITHIN_DEADLINE * premium.length, `premium within its deadline: ${inTime}/${premium.length} (< ${PREMIUM_WITHIN_DEADLINE * 100}%)\n${report}`);

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

/**
 * Sends one mlp-hold request on a raw socket and resets the connection (RST, the most
 * detectable way to go away) once the host reports it queued.
 */
async function sendAndReset(url: string, key: string): Promise<void> {
  const { hostname, port } = new URL(url);
  const row = mlpTinyRow();
  const head = [
    "POST /v2/models/mlp-hold/infer HTTP/1.1",
    `Host: ${hostname}:${port}`,
    `authorization: Bearer ${key}`,
    "content-type: application/json",
    // A deadline long enough that the 1 s batch hold, not the deadline, bounds the wait.
    "x-hotpath-timeout-ms: 5000",
    `content-length: ${row.body.byteLength}`,
    "",
    "",
  ].join("\r\n");
  const socket = connect(Number(port), hostname);
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(head);
  socket.write(row.body);
  const deadline = Date.now() + 800;
  let queued = false;
  while (!queued && Date.now() < deadline) {
    const response = await fetch(`${url}/admin/models/mlp-hold`, { headers: { authorization: `Bearer ${stack!.adminToken}` }, signal: AbortSignal.timeout(2_000) });
    const body = (await response.json()) as { hosts: { load: { queued: number } }[] };
    queued = body.hosts[0]!.load.queued > 0;
    if (!queued) await new Promise((r) => setTimeout(r, 20));
  }
  socket.resetAndDestroy();
  assert.ok(queued, "the mlp-hold request never showed up in the host's queue");
}

test("a client that goes away while its request is queued gets its work dropped", { timeout: 30_000, todo: CANCEL_TODO }, async () => {
  assert.ok(stack);
  const row = mlpTinyRow();
  // Warm the session so the hold, not a cold load, is what the request waits for.
  const warm = await fetch(`${stack.url}/v2/models/mlp-hold/infer`, {
    method: "POST",
    headers: { ...row.headers, authorization: `Bearer ${keys.premium[1]!.key}`, "x-hotpath-timeout-ms": "5000" },
    body: row.body,
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(warm.status, 200, await warm.text());
  const initial = await stack.hostCounters("mlp-hold");
  await sendAndReset(stack.url, keys.premium[1]!.key);
  // The hold ends within 1 s: by then the job must be gone (cancelled), not run.
  await new Promise((r) => setTimeout(r, 1_500));
  const final = await stack.hostCounters("mlp-hold");
  assert.equal(final.admitted, initial.admitted + 1, "the request was not admitted");
  assert.equal(
    final.cancelled,
    initial.cancelled + 1,
    `cancelled did not go up (completed ${initial.completed} -> ${final.completed}): the queued job was not dropped`,
  );
  assert.equal(final.completed, initial.completed, "the cancelled request's work still ran");
});
