/**
 * timeRun under the deployed runtime's clock (frozen-clock.ts): a run whose work is synchronous
 * (as onnxruntime-web's wasm is) must still be measured, where a Date.now() pair reads ~0.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { timeRun } from "../../scheduler/run-timer.ts";
import { freezeClock } from "./frozen-clock.ts";

const BUSY_MS = 30;

/** Burns real CPU for `ms` (by the monotonic clock the freeze leaves alone); returns the ms burnt. */
function busyWait(ms: number): number {
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms * 1e6);
  while (process.hrtime.bigint() < end);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Like session.run on onnxruntime-web: a promise, but the work is done synchronously before it settles. */
const syncRun = async (): Promise<number> => busyWait(BUSY_MS);

test("the frozen clock stands still during synchronous work and moves at a timer", async (t) => {
  freezeClock(t);
  const before = Date.now();
  busyWait(10);
  assert.equal(Date.now(), before);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.ok(Date.now() - before >= 10);
});

test("a Date.now() pair around a synchronous run reads ~0 under the deployed clock", async (t) => {
  freezeClock(t);
  const startedAt = Date.now();
  const realMs = await syncRun();
  assert.ok(realMs >= BUSY_MS);
  assert.ok(Date.now() - startedAt < 2, `naive measure ${Date.now() - startedAt} ms`);
});

test("timeRun measures a synchronous 30 ms run within 25% under the deployed clock", async (t) => {
  freezeClock(t);
  const { value: realMs, ms } = await timeRun(syncRun);
  assert.ok(Math.abs(ms - realMs) <= 0.25 * realMs, `measured ${ms} ms for ${realMs.toFixed(1)} ms of work`);
});

test("timeRun reads performance.now too, and passes the run's value through", async (t) => {
  freezeClock(t);
  const { value: realMs, ms } = await timeRun(syncRun, () => performance.now());
  assert.ok(Math.abs(ms - realMs) <= 0.25 * realMs, `measured ${ms} ms for ${realMs.toFixed(1)} ms of work`);
});
