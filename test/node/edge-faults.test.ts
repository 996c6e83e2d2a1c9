/**
 * @module Which replica a request goes to after its ModelHost failed: never the same object (it
 * may be reset or overloaded), and for a short cool-down no new request either while another
 * active replica is healthy.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FAILED_COOL_DOWN_MS, otherReplica, ReplicaSet } from "../../router/placement/replica-set.ts";

describe("retry after a host fault", () => {
  test("a single active replica: the next replica's name, beyond the active set", () => {
    assert.equal(otherReplica(0, 1), 1);
    assert.equal(otherReplica(0, 0), 1);
  });

  test("several active replicas: another member of the set, never the one that failed", () => {
    for (const active of [2, 3, 5]) {
      for (let failed = 0; failed < active; failed++) {
        for (const r of [0, 0.3, 0.6, 0.999]) {
          const other = otherReplica(failed, active, () => r);
          assert.notEqual(other, failed);
          assert.ok(other >= 0 && other < active, `${other} in [0, ${active})`);
        }
      }
    }
  });
});

/** Every value random() can give, coarsely: a pick that ever lands on a replica lands on it for one of these. */
const RANDOMS = [0, 0.1, 0.26, 0.4, 0.51, 0.6, 0.76, 0.9, 0.999];

/** The replicas pick() can choose at `now`, over all of RANDOMS for both of its draws. */
function pickable(set: ReplicaSet, now: number): number[] {
  const seen = new Set<number>();
  for (const first of RANDOMS) {
    for (const second of RANDOMS) {
      const draws = [first, second];
      seen.add(set.pick(now, () => draws.shift() ?? 0));
    }
  }
  return [...seen].sort();
}

describe("a failed replica sits out a cool-down", () => {
  const bounds = { minReplicas: 3, maxReplicas: 3 };
  const t0 = 5_000_000;

  test("no new request goes to it while others are active, and it is back after the cool-down", () => {
    const set = new ReplicaSet(bounds);
    assert.deepEqual(pickable(set, t0), [0, 1, 2]);
    set.failed(1, t0);
    assert.deepEqual(pickable(set, t0 + 1), [0, 2]);
    assert.deepEqual(pickable(set, t0 + FAILED_COOL_DOWN_MS - 1), [0, 2]);
    assert.ok(FAILED_COOL_DOWN_MS >= 1_000 && FAILED_COOL_DOWN_MS <= 10_000, `a few seconds, not ${FAILED_COOL_DOWN_MS} ms`);
    assert.deepEqual(pickable(set, t0 + FAILED_COOL_DOWN_MS), [0, 1, 2]);
  });

  test("an answer from it ends the cool-down early", () => {
    const set = new ReplicaSet(bounds);
    set.failed(2, t0);
    assert.deepEqual(pickable(set, t0 + 10), [0, 1]);
    set.observe(2, { queued: 0, running: 0, backlogMs: 0, waitAheadMs: {}, gapMs: 0 }, t0 + 20);
    assert.deepEqual(pickable(set, t0 + 30), [0, 1, 2]);
  });

  test("with every replica failed, or only one active, requests still go somewhere", () => {
    const set = new ReplicaSet(bounds);
    for (const r of [0, 1, 2]) set.failed(r, t0);
    assert.deepEqual(pickable(set, t0 + 1), [0, 1, 2]);
    const single = new ReplicaSet({ minReplicas: 1, maxReplicas: 3 });
    single.failed(0, t0);
    assert.equal(single.pick(t0 + 1), 0);
  });

  test("the retry goes to a healthy other replica of the set, else beyond it", () => {
    const set = new ReplicaSet(bounds);
    set.failed(0, t0);
    set.failed(2, t0 + 1);
    for (const r of RANDOMS)
      assert.equal(
        set.retryTarget(2, t0 + 2, () => r),
        1,
      );
    set.failed(1, t0 + 2);
    for (const r of RANDOMS)
      assert.notEqual(
        set.retryTarget(1, t0 + 3, () => r),
        1,
      );
    assert.equal(new ReplicaSet({ minReplicas: 1, maxReplicas: 3 }).retryTarget(0, t0), 1);
  });
});
