/**
 * @module End to end, a faulty origin with real processes on 127.0.0.1: the edge under `wrangler
 * dev`, two origin servers, and a fault proxy in front of o2 listed as a third origin, o3, which
 * breaks o2's answers on demand (500s, garbage, 503 while reloading, a failing ready check,
 * slowness). Its breaker opens and heals, health checks take it out of the choice and back, a
 * slow origin's requests end at their deadline; every other request keeps being served.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { Cleanup } from "./harness/cleanup.ts";
import { serverTiming, type Reply } from "./harness/http.ts";
import { closedLoop, log, sleep, tally, waitFor } from "./harness/load.ts";
import { assertPrepared, HEAVY } from "./harness/models.ts";
import { FAULTY_ID, PoolStack, type OriginView } from "./harness/pool-stack.ts";
import { assertServed, maxDiff, References, rows, TOLERANCE } from "./harness/tensors.ts";

/** The whole file; hooks inside a describe do not count against it, so each has its own limit. */
const FILE_TIMEOUT_MS = 300_000;
/** The edge, the origins and the uploads. */
const START_TIMEOUT_MS = 150_000;
const STOP_TIMEOUT_MS = 60_000;
/** Each test's setup: o3 serving again after the previous test's fault. */
const HEALTHY_AGAIN_TIMEOUT_MS = 45_000;
const SERVED_BY_FAULTY = `origin:${FAULTY_ID}`;
/** Breaker (router/origin-pool/circuit-breaker.ts): opens on the third failure, for 2 s, then 4 s after a failed probe. */
const FAILURES_TO_OPEN = 3;
const FIRST_COOL_DOWN_MS = 2_000;
/** Concurrent clients, so the least-expected-wait choice spreads them over every usable origin. */
const CLIENTS = 6;

const cleanup = new Cleanup();
const references = new References();
// Released once every process has stopped, whatever happened to them.
cleanup.finally(() => references.release());
let stack: PoolStack;

const faultyView = async (): Promise<OriginView> => {
  const view = (await stack.originViews()).find((o) => o.id === FAULTY_ID);
  assert.ok(view, `${FAULTY_ID} is not in GET /admin/origins`);
  return view;
};

/** Every reply is a 200 with onnxruntime-node's answer, and none came from o3. */
function assertServedElsewhere(replies: Reply[], expected: Float32Array, what: string): void {
  for (const reply of replies) assertServed(reply, expected);
  assert.ok(
    replies.every((r) => r.servedBy !== SERVED_BY_FAULTY),
    `o3 served a request while ${what}`,
  );
}

describe("faults: a faulty origin is left alone while it fails and used again once it heals", { timeout: FILE_TIMEOUT_MS }, () => {
  before(
    async () => {
      assertPrepared(HEAVY);
      stack = await PoolStack.start(cleanup, { label: "faults", origins: ["o1", "o2"], faultProxy: true });
      await stack.upload(HEAVY, { placement: "origin", maxBatch: 64 });
      await stack.waitWarm(HEAVY, ["o1", "o2"]);
    },
    { timeout: START_TIMEOUT_MS },
  );

  after(() => cleanup.run(), { timeout: STOP_TIMEOUT_MS });

  // Each test starts from a healthy pool: the proxy passing everything, o3 checked ready and
  // serving (a success closes its breaker), and the proxy's counts at zero.
  beforeEach(
    async () => {
      stack.proxy.reset();
      const input = rows(HEAVY.width, 2, 1);
      let back = false;
      await closedLoop(
        CLIENTS,
        15_000,
        async () => {
          const reply = await stack.infer(HEAVY, input, 5_000);
          back ||= reply.servedBy === SERVED_BY_FAULTY;
          return reply;
        },
        () => back,
      );
      assert.ok(back, "o3 served nothing within 15 s of passing everything");
      await waitFor("o3 checked and ready", async () => (await faultyView()).health.state === "ready", 10_000);
      stack.proxy.reset();
    },
    { timeout: HEALTHY_AGAIN_TIMEOUT_MS },
  );

  test("an origin answering 500s, garbage, then 503s while it reloads: its breaker opens, requests keep succeeding, it recovers once healed", async () => {
    const proxy = stack.proxy;
    const input = rows(HEAVY.width, 2, 11);
    const expected = await references.output(HEAVY, input);
    const send = () => stack.infer(HEAVY, input, 5_000);

    // 500s: a failed attempt is retried on another origin; the third failure opens the breaker.
    proxy.mode = "error-500";
    const burst = await closedLoop(CLIENTS, 5_000, send, () => proxy.inferHits["error-500"] >= FAILURES_TO_OPEN);
    assertServedElsewhere(burst, expected, "it answered 500");
    const failures = proxy.inferHits["error-500"];
    assert.ok(failures >= FAILURES_TO_OPEN, `o3 got ${failures} requests; its breaker needs ${FAILURES_TO_OPEN} failures to open`);
    const retried = burst.filter((r) => /after 2 tries/.test(serverTiming(r))).length;
    assert.ok(retried >= 1, "no request that failed on o3 was retried on another origin");
    // Open from the third failure: for its cool-down the next requests leave it alone.
    const openedAt = proxy.inferHitTimes[FAILURES_TO_OPEN - 1]!;
    const quiet = await closedLoop(CLIENTS, Math.max(0, openedAt + FIRST_COOL_DOWN_MS / 2 - performance.now()), send);
    assertServedElsewhere(quiet, expected, "its breaker was open");
    const quietEnd = performance.now();
    const probes = proxy.inferHits["error-500"] - failures;
    // A probe can reach it a cool-down after it opened at the earliest, then twice that later.
    const allowed = Math.floor((quietEnd - openedAt) / FIRST_COOL_DOWN_MS);
    log(
      `500s: ${burst.length} requests, ${failures} reached o3 (${retried} retried on another origin); then ${quiet.length} requests in ${(quietEnd - openedAt).toFixed(0)} ms, ${probes} reached o3`,
    );
    assert.ok(probes <= allowed, `the open breaker let ${probes} requests through in ${(quietEnd - openedAt).toFixed(0)} ms`);

    // Garbage (a 200 that is no OIP answer) fails the half-open probe: open again, for longer.
    proxy.mode = "garbage";
    const garbage = await closedLoop(2, 6_000, send, () => proxy.inferHits.garbage >= 1);
    assertServedElsewhere(garbage, expected, "it answered garbage");
    assert.equal(proxy.inferHits.garbage, 1, "no probe, or more than one, reached the faulty origin");

    // Busy (503 + Retry-After, as an origin answers while it reloads its models): not a fault of
    // its health, retried elsewhere; the breaker must keep probing, not wait forever.
    proxy.mode = "busy";
    const busy = await closedLoop(2, 8_000, send, () => proxy.inferHits.busy >= 1);
    assertServedElsewhere(busy, expected, "it answered 503");
    assert.ok(proxy.inferHits.busy >= 1, "no probe reached the faulty origin within its cool-down");
    log(`garbage: ${garbage.length} requests, ${proxy.inferHits.garbage} reached o3; busy: ${busy.length} requests, ${proxy.inferHits.busy} reached o3`);

    // Healed: the next probe succeeds and o3 takes traffic again.
    proxy.mode = "pass";
    const healedAt = performance.now();
    let recovered: Reply | undefined;
    const serving = await closedLoop(
      2,
      10_000,
      async () => {
        const reply = await send();
        if (reply.servedBy === SERVED_BY_FAULTY) recovered ??= reply;
        else await sleep(50);
        return reply;
      },
      () => recovered !== undefined,
    );
    for (const reply of serving) assertServed(reply, expected);
    assert.ok(recovered, "the healed origin got no traffic back within 10 s");
    log(`healed: o3 served again ${((recovered.startedAt - healedAt) / 1000).toFixed(1)} s after it healed`);
  });

  test("active health checks: an origin whose ready check fails leaves the choice before requests fail on it, and is back once it passes", async () => {
    const proxy = stack.proxy;
    const input = rows(HEAVY.width, 2, 13);
    const expected = await references.output(HEAVY, input);
    const send = () => stack.infer(HEAVY, input, 5_000);

    // Not ready (restarting, loading its models): the check finds it while traffic flows.
    proxy.mode = "unready";
    const unreadyAt = performance.now();
    let down: OriginView | undefined;
    const noticing = closedLoop(CLIENTS, 10_000, send, () => down !== undefined);
    await waitFor(
      "o3 found down",
      async () => {
        const view = await faultyView();
        if (view.health.state === "down") down = view;
        return down !== undefined;
      },
      10_000,
    );
    for (const reply of await noticing) assertServed(reply, expected);
    assert.equal(down!.usable, false);
    assert.match(down!.health.reason ?? "", /not ready \(503: injected fault/);
    const noticedMs = performance.now() - unreadyAt;
    // While it is down, no request reaches it (each would fail and be retried), but checks do.
    const hitsAtDown = proxy.inferHits.unready;
    const checksAtDown = proxy.readyChecks.length;
    const whileDown = await closedLoop(CLIENTS, 3_000, send);
    assertServedElsewhere(whileDown, expected, "its health check failed");
    assert.equal(proxy.inferHits.unready, hitsAtDown, "requests were sent to an origin its health check found down");
    assert.ok(proxy.readyChecks.length - checksAtDown >= 2, `only ${proxy.readyChecks.length - checksAtDown} checks of the down origin in 3 s`);

    // Ready again: the next check brings it back, no failed request needed.
    proxy.mode = "pass";
    const readyAt = performance.now();
    let back: Reply | undefined;
    const serving = await closedLoop(
      CLIENTS,
      10_000,
      async () => {
        const reply = await send();
        if (reply.servedBy === SERVED_BY_FAULTY) back ??= reply;
        return reply;
      },
      () => back !== undefined,
    );
    for (const reply of serving) assertServed(reply, expected);
    assert.ok(back, `o3 got no traffic back within 10 s of passing its checks: ${JSON.stringify(await stack.originViews())}`);
    assert.equal((await faultyView()).health.state, "ready");
    log(
      `health: o3 found down ${(noticedMs / 1000).toFixed(1)} s after it stopped being ready (${hitsAtDown} requests reached it first); ${whileDown.length} requests while down, none to it; served again ${((back.startedAt - readyAt) / 1000).toFixed(1)} s after it was ready`,
    );
  });

  test("a slow origin: the requests sent to it end with 504 at their deadline, never later; its breaker opens and the rest are served elsewhere", async () => {
    const proxy = stack.proxy;
    const input = rows(HEAVY.width, 2, 17);
    const expected = await references.output(HEAVY, input);
    const DEADLINE_MS = 800;
    const LOAD_MS = 6_000;
    proxy.slowMs = 3_000;
    proxy.mode = "slow";
    const replies = await closedLoop(CLIENTS, LOAD_MS, () => stack.infer(HEAVY, input, DEADLINE_MS));
    proxy.mode = "pass";
    const slowHits = proxy.inferHits.slow;
    const outcome = tally(replies, (r) => (r.hung ? "hung" : `${r.status}`));
    log(
      `slow origin: ${replies.length} requests ${JSON.stringify(outcome)}; ${slowHits} reached o3, answered at most ${Math.max(...replies.map((r) => r.elapsedMs)).toFixed(0)} ms after they were sent`,
    );
    for (const reply of replies) {
      assert.equal(reply.hung, false, "a request got no answer");
      assert.ok(reply.status === 200 || reply.status === 504, `status ${reply.status}: ${reply.error}`);
      // the router's own deadline guard answers shortly after the deadline; local overhead on top
      assert.ok(reply.elapsedMs <= DEADLINE_MS + 400, `answered ${reply.elapsedMs.toFixed(0)} ms after it was sent, deadline ${DEADLINE_MS} ms`);
      if (reply.status === 200) assert.ok(maxDiff(reply.output, expected) <= TOLERANCE);
    }
    assert.ok(slowHits >= FAILURES_TO_OPEN, `only ${slowHits} requests reached the slow origin`);
    // Three timeouts with ample time open its breaker; then only probes reach it (2 s, then 4 s).
    assert.ok(slowHits <= FAILURES_TO_OPEN + Math.ceil(LOAD_MS / FIRST_COOL_DOWN_MS), `${slowHits} requests reached the slow origin in ${LOAD_MS} ms`);
    // Only what went to o3 may miss its deadline: a 504 is never retried, a 200 came from o1 or o2.
    assert.equal(outcome["504"] ?? 0, slowHits, "a 504 that did not come from the slow origin");
  });
});
