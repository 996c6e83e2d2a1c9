/** @module Replica choice and elastic scale (ReplicaSet): power of two choices, growth after warm-up, shrink when idle; early refusal at the router. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cappedBounds, ReplicaSet, replicaSetFor, SCALE_DOWN_AFTER_MS, SCALE_UP_AFTER_MS, SCALE_UP_BACKLOG_MS } from "../../router/placement/replica-set.ts";
import { TIERS } from "../../config/tiers.ts";
import type { HttpError } from "../../protocol/errors.ts";
import { budgetBeforeBodyMs, refuseEarly } from "../../router/admission/early-refusal.ts";

const bounds = { minReplicas: 1, maxReplicas: 3 };
const busy = { queued: 10, running: 1, backlogMs: SCALE_UP_BACKLOG_MS * 2, waitAheadMs: {}, gapMs: 0 };
const idle = { queued: 0, running: 0, backlogMs: 0, waitAheadMs: {}, gapMs: 0 };

describe("replicas", () => {
  test("MAX_REPLICAS_PER_REGION caps a model's bounds (npm start: 1, all replicas would share one thread)", () => {
    assert.deepEqual(cappedBounds({ minReplicas: 2, maxReplicas: 4 }, 1), { minReplicas: 1, maxReplicas: 1 });
    assert.deepEqual(cappedBounds({ minReplicas: 1, maxReplicas: 4 }, 64), { minReplicas: 1, maxReplicas: 4 });
    const set = new ReplicaSet(cappedBounds({ minReplicas: 1, maxReplicas: 4 }, 1));
    const t0 = 1_000_000;
    for (let t = t0; t <= t0 + SCALE_UP_AFTER_MS * 3; t += SCALE_UP_AFTER_MS / 4) assert.equal(set.observe(0, busy, t), undefined, "no replica to warm");
    assert.equal(set.active, 1);
  });

  test("a single replica takes everything", () => {
    const set = new ReplicaSet(bounds);
    assert.equal(set.pick(), 0);
    assert.equal(set.active, 1);
  });

  test("sustained backlog grows the set by one, only after the new replica warmed", () => {
    const set = new ReplicaSet(bounds);
    const t0 = 1_000_000;
    assert.equal(set.observe(0, busy, t0), undefined); // pressure starts
    assert.equal(set.observe(0, busy, t0 + SCALE_UP_AFTER_MS / 2), undefined); // not sustained yet
    assert.equal(set.observe(0, busy, t0 + SCALE_UP_AFTER_MS), 1); // warm replica 1
    assert.equal(set.observe(0, busy, t0 + SCALE_UP_AFTER_MS + 10), undefined); // one warm-up at a time
    assert.equal(set.active, 1); // not before it is warm
    set.warmed(1, true);
    assert.equal(set.active, 2);
  });

  test("a failed warm-up does not add the replica", () => {
    const set = new ReplicaSet(bounds);
    const t0 = 2_000_000;
    set.observe(0, busy, t0);
    const grow = set.observe(0, busy, t0 + SCALE_UP_AFTER_MS);
    assert.equal(grow, 1);
    set.warmed(1, false);
    assert.equal(set.active, 1);
  });

  test("never above max, never below min", () => {
    const set = new ReplicaSet(bounds);
    let t = 3_000_000;
    for (let k = 0; k < 10; k++) {
      set.observe(0, busy, t);
      const grow = set.observe(0, busy, (t += SCALE_UP_AFTER_MS));
      if (grow !== undefined) set.warmed(grow, true);
      t += 1;
    }
    assert.equal(set.active, 3);
    for (let k = 0; k < 10; k++) {
      for (let r = 0; r < 3; r++) set.observe(r, idle, t);
      t += SCALE_DOWN_AFTER_MS;
      for (let r = 0; r < 3; r++) set.observe(r, idle, t);
    }
    assert.equal(set.active, 1);
  });

  test("a trickle counts as idle: nothing queued and no pressure, even with a few ms of reported wait", () => {
    const set = new ReplicaSet({ minReplicas: 1, maxReplicas: 2 });
    let t = 7_000_000;
    set.observe(0, busy, t);
    set.warmed(set.observe(0, busy, (t += SCALE_UP_AFTER_MS)) ?? -1, true);
    assert.equal(set.active, 2);
    // Each answer also reports the few ms the call took to reach the host: never exactly zero.
    const trickle = { ...idle, backlogMs: 3 };
    for (let k = 0; k <= SCALE_DOWN_AFTER_MS / 1_000; k++) set.observe(k % 2, trickle, (t += 1_000));
    assert.equal(set.active, 1);
    const queued = new ReplicaSet({ minReplicas: 1, maxReplicas: 2 }, 1_000);
    queued.observe(0, busy, t);
    queued.warmed(queued.observe(0, busy, (t += SCALE_UP_AFTER_MS)) ?? -1, true);
    for (let k = 0; k < 10; k++) queued.observe(k % 2, { ...idle, queued: 1 }, (t += 1_000));
    assert.equal(queued.active, 2, "work waiting in a queue is not idle");
  });

  test("power of two choices prefers the less loaded replica", () => {
    const set = new ReplicaSet({ minReplicas: 2, maxReplicas: 2 });
    const now = 4_000_000;
    set.observe(0, busy, now);
    set.observe(1, idle, now);
    const picks = Array.from({ length: 50 }, (_, k) => set.pick(now, () => (k % 10) / 10));
    assert.ok(
      picks.every((p) => p === 1),
      picks.join(""),
    );
  });

  test("stale reports are not trusted", () => {
    const set = new ReplicaSet({ minReplicas: 2, maxReplicas: 2 });
    set.observe(0, busy, 5_000_000);
    set.observe(1, { ...busy, backlogMs: 10 }, 5_009_000);
    // ten seconds on, replica 0's big backlog report is stale (it has drained since), so it wins
    const picks = new Set(Array.from({ length: 20 }, (_, k) => set.pick(5_010_000, () => (k % 10) / 10)));
    assert.deepEqual([...picks].sort(), [0]);
  });

  test("the wait a replica reports ahead of a priority drains with time, and a stale or missing report counts as none", () => {
    const set = new ReplicaSet(bounds);
    const now = 6_000_000;
    assert.equal(set.waitMs(0, 1, now), 0, "no report yet");
    set.observe(0, { ...busy, backlogMs: 900, waitAheadMs: { 1: 100, 3: 900 } }, now);
    assert.equal(set.waitMs(0, 1, now), 100);
    assert.equal(set.waitMs(0, 3, now + 400), 500, "worked off for 400 ms");
    assert.equal(set.waitMs(0, 2, now), 900, "a priority the report has no figure for waits for everything");
    assert.equal(set.waitMs(0, 1, now + 150), 0, "never below zero");
    assert.equal(set.waitMs(0, 3, now + 60_000), 0, "stale");
  });

  test("a caller with nothing in flight reads the wait fair share gives a tenant with nothing queued, where the report has it", () => {
    const set = new ReplicaSet(bounds);
    const now = 7_000_000;
    set.observe(0, { ...busy, backlogMs: 1_500, waitAheadMs: { 2: 1_500 }, newTenantWaitAheadMs: { 2: 60 } }, now);
    assert.equal(set.waitMs(0, 2, now, true), 60);
    assert.equal(set.waitMs(0, 2, now, false), 1_500, "a tenant with work queued waits behind its own backlog");
    set.observe(0, { ...busy, backlogMs: 1_500, waitAheadMs: { 2: 1_500 } }, now);
    assert.equal(set.waitMs(0, 2, now, true), 1_500, "a report without the figure (an older host) counts the tier's wait");
  });
});

describe("replica sets per region and model", () => {
  test("one set per region and model in an isolate, bound to the model's current bounds", () => {
    const a = replicaSetFor("weur", "test-model-a", { minReplicas: 2, maxReplicas: 4 });
    assert.equal(replicaSetFor("weur", "test-model-a", { minReplicas: 2, maxReplicas: 4 }), a, "the same set again");
    assert.notEqual(replicaSetFor("enam", "test-model-a", { minReplicas: 2, maxReplicas: 4 }), a, "another region has its own");
    assert.notEqual(replicaSetFor("weur", "test-model-b", { minReplicas: 2, maxReplicas: 4 }), a, "another model has its own");
    assert.equal(a.active, 2);
    assert.equal(replicaSetFor("weur", "test-model-a", { minReplicas: 3, maxReplicas: 4 }).active, 3, "raising the minimum adds replicas");
    assert.equal(replicaSetFor("weur", "test-model-a", { minReplicas: 1, maxReplicas: 1 }).active, 1, "lowering the maximum removes them");
  });
});

describe("early refusal at the router", () => {
  const tier = TIERS.free; // waits at most 500 ms in a queue

  test("before the body is read, a request may take the header's time, else the tier's longest deadline", () => {
    // no header: the body's parameters.timeout may still ask for up to the tier's maximum
    assert.equal(budgetBeforeBodyMs(TIERS.premium, undefined), TIERS.premium.maxDeadlineMs);
    assert.equal(budgetBeforeBodyMs(TIERS.premium, "300"), 300);
    assert.equal(budgetBeforeBodyMs(TIERS.premium, "999999"), TIERS.premium.maxDeadlineMs);
    assert.throws(
      () => budgetBeforeBodyMs(TIERS.premium, "soon"),
      (e: HttpError) => e.status === 400,
    );
  });

  test("passes a request the host could still take, up to the tier's queue wait and the request's time exactly", () => {
    assert.equal(refuseEarly("free", tier, 0, 3_000), undefined);
    assert.equal(refuseEarly("free", tier, tier.maxQueueWaitMs, 3_000), undefined);
    assert.throws(
      () => refuseEarly("free", tier, tier.maxQueueWaitMs + 1, 3_000),
      (e: HttpError) => e.status === 503,
    );
    assert.equal(refuseEarly("free", tier, 200, 200), undefined);
    assert.throws(
      () => refuseEarly("free", tier, 201, 200),
      (e: HttpError) => e.status === 503,
    );
  });

  test("refuses with 503 and Retry-After past the tier's queue wait or the request's time", () => {
    assert.throws(
      () => refuseEarly("free", tier, 2_400, 3_000),
      (e: HttpError) => e.status === 503 && e.retryAfterSeconds === 3 && /2400 ms of work is queued ahead of free requests/.test(e.message),
    );
    assert.throws(
      () => refuseEarly("free", tier, 300, 200),
      (e: HttpError) => e.status === 503 && /more than the 200 ms/.test(e.message),
    );
  });

  test("a request whose time is already spent is 504, not a 503 that says it may wait a negative time", () => {
    assert.throws(
      () => refuseEarly("premium", TIERS.premium, 0, -4),
      (e: HttpError) => e.status === 504 && /deadline passed/.test(e.message),
    );
    assert.throws(
      () => refuseEarly("premium", TIERS.premium, 0, 0),
      (e: HttpError) => e.status === 504,
    );
  });
});
