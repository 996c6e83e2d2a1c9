/** @module Which replica a request goes to after its ModelHost failed: never the same object (it may be reset or overloaded). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { otherReplica } from "../../router/placement/replica-set.ts";

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
