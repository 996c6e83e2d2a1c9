/**
 * @module The bounded caches of protocol/lru.ts: an LRU never holds more than its capacity and
 * forgets the least recently used entry first; a LookupCache keeps hits and misses apart, each
 * bounded, and forgets both after their time.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LookupCache, Lru } from "../../protocol/lru.ts";

describe("Lru", () => {
  test("a flood of distinct keys never holds more than the capacity", () => {
    const lru = new Lru<string, number>(100);
    for (let k = 0; k < 10_000; k++) {
      lru.set(`key-${k}`, k);
      assert.ok(lru.size <= 100, `size ${lru.size} after ${k + 1} inserts`);
    }
    assert.equal(lru.size, 100);
    // The last 100 are the ones kept.
    assert.equal(lru.get("key-9899"), undefined);
    assert.equal(lru.get("key-9900"), 9900);
    assert.equal(lru.get("key-9999"), 9999);
  });

  test("evicts the least recently used entry: a get counts as a use", () => {
    const lru = new Lru<string, number>(3);
    lru.set("a", 1).set("b", 2).set("c", 3);
    assert.equal(lru.get("a"), 1); // b is now the oldest
    lru.set("d", 4);
    assert.equal(lru.has("b"), false);
    assert.deepEqual(
      ["a", "c", "d"].map((k) => lru.get(k)),
      [1, 3, 4],
    );
  });

  test("setting a key again replaces it without growing", () => {
    const lru = new Lru<string, number>(2);
    lru.set("a", 1).set("a", 2).set("b", 3);
    assert.equal(lru.size, 2);
    assert.equal(lru.get("a"), 2);
  });

  test("a capacity below 1 or not a whole number is refused", () => {
    for (const capacity of [0, -1, 1.5, Number.NaN]) assert.throws(() => new Lru(capacity), RangeError);
  });
});

describe("LookupCache", () => {
  test("misses are cached, bounded, and never evict hits", () => {
    const cache = new LookupCache<string>({ ttlMs: 1_000, foundCapacity: 10, missingCapacity: 50 });
    for (let k = 0; k < 10; k++) cache.set(`real-${k}`, `value-${k}`, 0);
    for (let k = 0; k < 5_000; k++) cache.set(`random-${k}`, null, 0);
    assert.deepEqual(cache.sizes, { found: 10, missing: 50 });
    for (let k = 0; k < 10; k++) assert.equal(cache.get(`real-${k}`, 1), `value-${k}`);
    assert.equal(cache.get("random-4999", 1), null);
    assert.equal(cache.get("random-0", 1), undefined);
  });

  test("entries expire after ttlMs; a value replaces a miss and the other way round", () => {
    const cache = new LookupCache<number>({ ttlMs: 100, foundCapacity: 4, missingCapacity: 4 });
    cache.set("x", null, 0);
    assert.equal(cache.get("x", 99), null);
    assert.equal(cache.get("x", 100), undefined);
    cache.set("x", 7, 200);
    assert.equal(cache.get("x", 250), 7);
    cache.set("x", null, 250);
    assert.equal(cache.get("x", 260), null);
    assert.deepEqual(cache.sizes, { found: 0, missing: 1 });
    cache.delete("x");
    assert.equal(cache.get("x", 260), undefined);
  });
});
