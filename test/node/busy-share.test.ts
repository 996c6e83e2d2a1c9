/** The share of a host's thread each priority used lately, and the stretch it gives less important waits. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { BusyShare, MAX_SHARE_AHEAD } from "../../scheduler/busy-share.ts";

test("a steady use settles at its share; only more important priorities count", () => {
  const busy = new BusyShare(1_000);
  // priority 1 uses 6 ms of every 10 ms, priority 2 uses 2 ms, for 10 windows
  for (let t = 0; t <= 10_000; t += 10) {
    busy.add(1, 6, t);
    busy.add(2, 2, t);
  }
  assert.ok(Math.abs(busy.above(2, 10_000) - 0.6) < 0.02, `above 2: ${busy.above(2, 10_000)}`);
  assert.ok(Math.abs(busy.above(3, 10_000) - 0.8) < 0.02, `above 3: ${busy.above(3, 10_000)}`);
  assert.equal(busy.above(1, 10_000), 0, "nothing is more important than priority 1");
  assert.ok(Math.abs(busy.stretch(3, 10_000) - 5) < 0.6, `stretch of 3: ${busy.stretch(3, 10_000)}`);
  assert.equal(busy.stretch(1, 10_000), 1);
});

test("the share decays once the use stops, and the stretch is capped", () => {
  const busy = new BusyShare(500);
  for (let t = 0; t <= 5_000; t += 10) busy.add(1, 10, t); // the whole thread
  assert.equal(busy.stretch(2, 5_000), 1 / (1 - MAX_SHARE_AHEAD));
  const later = 5_000 + 5 * 500;
  assert.ok(busy.above(2, later) < 0.01, `after five windows: ${busy.above(2, later)}`);
  busy.add(1, Number.NaN, later); // ignored
  busy.add(1, -5, later); // ignored
  assert.ok(busy.above(2, later) < 0.01);
});
