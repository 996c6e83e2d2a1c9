/** The origin circuit breaker: opens after failures, probes after a cool-down, backs off, heals. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { CircuitBreaker } from "../../router/origin-pool/circuit-breaker.ts";

const options = { failuresToOpen: 3, coolDownMs: 1_000, maxCoolDownMs: 4_000 };

test("opens after consecutive failures, not after scattered ones", () => {
  const breaker = new CircuitBreaker(options);
  breaker.failed(0);
  breaker.failed(1);
  breaker.succeeded();
  breaker.failed(2);
  breaker.failed(3);
  assert.equal(breaker.state(4), "closed");
  breaker.failed(5);
  assert.equal(breaker.state(6), "open");
  assert.equal(breaker.allow(6), false);
  assert.equal(breaker.retryInMs(6), 999);
});

test("after the cool-down one probe goes; success closes", () => {
  const breaker = new CircuitBreaker(options);
  for (let k = 0; k < 3; k++) breaker.failed(0);
  assert.equal(breaker.allow(999), false);
  assert.equal(breaker.allow(1_000), true);
  assert.equal(breaker.allow(1_001), false); // one probe at a time
  breaker.succeeded();
  assert.equal(breaker.state(1_002), "closed");
  assert.equal(breaker.allow(1_002), true);
});

test("a failed probe reopens with a doubled cool-down, capped", () => {
  const breaker = new CircuitBreaker(options);
  for (let k = 0; k < 3; k++) breaker.failed(0);
  let now = 1_000;
  const coolDowns: number[] = [];
  for (let k = 0; k < 4; k++) {
    assert.equal(breaker.allow(now), true);
    breaker.failed(now);
    coolDowns.push(breaker.retryInMs(now));
    now += breaker.retryInMs(now);
  }
  assert.deepEqual(coolDowns, [2_000, 4_000, 4_000, 4_000]);
  assert.equal(breaker.allow(now), true);
  breaker.succeeded();
  for (let k = 0; k < 3; k++) breaker.failed(now);
  assert.equal(breaker.retryInMs(now), 1_000); // healed: back to the first cool-down
});

test("a probe that got no verdict (busy, loading) releases the breaker for the next probe", () => {
  const breaker = new CircuitBreaker(options);
  for (let k = 0; k < 3; k++) breaker.failed(0);
  assert.equal(breaker.allow(1_000), true);
  assert.equal(breaker.allow(1_001), false);
  breaker.released();
  assert.equal(breaker.state(1_002), "half-open");
  assert.equal(breaker.allow(1_002), true); // without released() no probe would ever go again
});
