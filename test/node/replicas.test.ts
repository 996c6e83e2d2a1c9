/** Replica choice and elastic scale: power of two choices, growth after warm-up, shrink when idle. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  activeReplicas, observeLoad, pickReplica, replicaWarmed, SCALE_DOWN_AFTER_MS, SCALE_UP_AFTER_MS, SCALE_UP_BACKLOG_MS,
  replicaWaitMs,
} from "../../router/placement/replicas.ts";
import { TIERS } from "../../config/tiers.ts";
import type { HttpError } from "../../protocol/errors.ts";
import { budgetBeforeBodyMs, refuseEarly } from "../../router/admission/early-refusal.ts";

const bounds = { minReplicas: 1, maxReplicas: 3 };
const busy = { queued: 10, running: 1, backlogMs: SCALE_UP_BACKLOG_MS * 2, waitAheadMs: {}, gapMs: 0 };
const idle = { queued: 0, running: 0, backlogMs: 0, waitAheadMs: {}, gapMs: 0 };
let setCounter = 0;
const freshKey = () => `test:set${setCounter++}`;

describe("replicas", () => {
  test("a single replica takes everything", () => {
    const key = freshKey();
    assert.equal(pickReplica(key, bounds), 0);
    assert.equal(activeReplicas(key, bounds), 1);
  });

  test("sustained backlog grows the set by one, only after the new replica warmed", () => {
    const key = freshKey();
    const t0 = 1_000_000;
    assert.equal(observeLoad(key, bounds, 0, busy, t0), undefined); // pressure starts
    assert.equal(observeLoad(key, bounds, 0, busy, t0 + SCALE_UP_AFTER_MS / 2), undefined); // not sustained yet
    assert.equal(observeLoad(key, bounds, 0, busy, t0 + SCALE_UP_AFTER_MS), 1); // warm replica 1
    assert.equal(observeLoad(key, bounds, 0, busy, t0 + SCALE_UP_AFTER_MS + 10), undefined); // one warm-up at a time
    assert.equal(activeReplicas(key, bounds), 1); // not before it is warm
    replicaWarmed(key, bounds, 1, true);
    assert.equal(activeReplicas(key, bounds), 2);
  });

  test("a failed warm-up does not add the replica", () => {
    const key = freshKey();
    const t0 = 2_000_000;
    observeLoad(key, bounds, 0, busy, t0);
    const grow = observeLoad(key, bounds, 0, busy, t0 + SCALE_UP_AFTER_MS);
    assert.equal(grow, 1);
    replicaWarmed(key, bounds, 1, false);
    assert.equal(activeReplicas(key, bounds), 1);
  });

  test("never above max, never below min", () => {
    const key = freshKey();
    let t = 3_000_000;
    for (let k = 0; k < 10; k++) {
      observeLoad(key, bounds, 0, busy, t);
      const grow = observeLoad(key, bounds, 0, busy, (t += SCALE_UP_AFTER_MS));
      if (grow !== undefined) replicaWarmed(key, bounds, grow, true);
      t += 1;
    }
    assert.equal(activeReplicas(key, bounds), 3);
    for (let k = 0; k < 10; k++) {
      for (let r = 0; r < 3; r++) observeLoad(key, bounds, r, idle, t);
      t += SCALE_DOWN_AFTER_MS;
      for (let r = 0; r < 3; r++) observeLoad(key, bounds, r, idle, t);
    }
    assert.equal(activeReplicas(key, bounds), 1);
  });

  test("power of two choices prefers the less loaded replica", () => {
    const key = freshKey();
    const two = { minReplicas: 2, maxReplicas: 2 };
    const now = 4_000_000;
    observeLoad(key, two, 0, busy, now);
    observeLoad(key, two, 1, idle, now);
    const picks = Array.from({ length: 50 }, (_, k) => pickReplica(key, two, now, () => (k % 10) / 10));
    assert.ok(picks.every((p) => p === 1), picks.join(""));
  });

  test("stale reports are not trusted", () => {
    const key = freshKey();
    const two = { minReplicas: 2, maxReplicas: 2 };
    observeLoad(key, two, 0, busy, 5_000_000);
    observeLoad(key, two, 1, { ...busy, backlogMs: 10 }, 5_009_000);
    // ten seconds on, replica 0's big backlog report is stale (it has drained since), so it wins
    const picks = new Set(Array.from({ length: 20 }, (_, k) => pickReplica(key, two, 5_010_000, () => (k % 10) / 10)));
    assert.deepEqual([...picks].sort(), [0]);
  });

  test("the wait a replica reports ahead of a priority drains with time, and a stale or missing report counts as none", () => {
    const key = freshKey();
    const now = 6_000_000;
    assert.equal(replicaWaitMs(key, bounds, 0, 1, now), 0, "no report yet");
    observeLoad(key, bounds, 0, { ...busy, backlogMs: 900, waitAheadMs: { 1: 100, 3: 900 } }, now);
    assert.equal(replicaWaitMs(key, bounds, 0, 1, now), 100);
    assert.equal(replicaWaitMs(key, bounds, 0, 3, now + 400), 500, "worked off for 400 ms");
    assert.equal(replicaWaitMs(key, bounds, 0, 2, now), 900, "a priority the report has no figure for waits for everything");
    assert.equal(replicaWaitMs(key, bounds, 0, 1, now + 150), 0, "never below zero");
    assert.equal(replicaWaitMs(key, bounds, 0, 3, now + 60_000), 0, "stale");
  });
});

describe("early refusal at the router", () => {
  const tier = TIERS.free; // waits at most 500 ms in a queue

  test("before the body is read, a request may take the header's time, else the tier's longest deadline", () => {
    // no header: the body's parameters.timeout may still ask for up to the tier's maximum
    assert.equal(budgetBeforeBodyMs(TIERS.premium, undefined), TIERS.premium.maxDeadlineMs);
    assert.equal(budgetBeforeBodyMs(TIERS.premium, "300"), 300);
    assert.equal(budgetBeforeBodyMs(TIERS.premium, "999999"), TIERS.premium.maxDeadlineMs);
    assert.throws(() => budgetBeforeBodyMs(TIERS.premium, "soon"), (e: HttpError) => e.status === 400);
  });

  test("passes a request the host could still take", () => {
    assert.doesNotThrow(() => refuseEarly("free", tier, 0, 3_000));
    assert.doesNotThrow(() => refuseEarly("free", tier, tier.maxQueueWaitMs, 3_000));
  });

  test("refuses with 503 and Retry-After past the tier's queue wait or the request's time", () => {
    assert.throws(
      () => refuseEarly("free", tier, 2_400, 3_000),
      (e: HttpError) => e.status === 503 && e.retryAfterSeconds === 3 && /2400 ms of work is queued ahead of free requests/.test(e.message),
    );
    assert.throws(() => refuseEarly("free", tier, 300, 200), (e: HttpError) => e.status === 503 && /more than the 200 ms/.test(e.message));
  });
});
