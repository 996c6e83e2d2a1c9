/**
 * @module A version's variants are other bytes with other costs (an int8 copy runs several times
 * faster than its fp32 default): the scheduler learns each one's run time apart, by sha256, so
 * admission of a request for the fast bytes is not refused on the slow bytes' predicted time, and
 * the learned times are shown apart. Time is virtual (virtual-clock.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HostInferCall, HostModel } from "../../durable-objects/model-host/contract.ts";
import { Scheduler, type RunModel } from "../../scheduler/scheduler.ts";
import { HttpError } from "../../protocol/errors.ts";
import { VirtualClock } from "./virtual-clock.ts";

const DEFAULT: HostModel = {
  name: "heavy",
  version: "1",
  r2Key: "fp32",
  sha256: "a".repeat(64),
  bytes: 4,
  maxBatch: 1,
  maxQueueDelayMs: 0,
  batchAxes: undefined,
};
const INT8: HostModel = { ...DEFAULT, r2Key: "int8", sha256: "b".repeat(64), bytes: 1 };
const RUN_MS: Record<string, number> = { fp32: 400, int8: 20 };

const runModel: RunModel = async (model, inputs) => {
  await new Promise((r) => setTimeout(r, RUN_MS[model.r2Key]));
  return { outputs: inputs, loadMs: 0, inferMs: RUN_MS[model.r2Key]! };
};

let nextId = 0;
const call = (model: HostModel, deadlineInMs: number): HostInferCall => ({
  model,
  inputs: [{ name: "x", datatype: "FP32", shape: [1, 1], data: new Float32Array([1]) }],
  outputNames: ["x"],
  requestId: `r${nextId++}`,
  tenant: "t",
  priority: 2,
  deadline: Date.now() + deadlineInMs,
  maxQueueWaitMs: 5_000,
});

test("a variant's run time is learned apart from its default's, and admits what the variant can finish", async (t) => {
  const clock = new VirtualClock(t);
  const scheduler = new Scheduler({ maxQueueLength: 16, run: runModel });
  for (const model of [DEFAULT, DEFAULT, INT8, INT8]) {
    const done = clock.track(scheduler.submit(call(model, 5_000)));
    await clock.advanceUntil([done]);
    assert.equal(done.state, "fulfilled");
  }
  const times = scheduler.serviceTimes();
  assert.equal(times["heavy@1"]?.[0]?.meanMs, 400);
  assert.equal(times[`heavy@1#${"b".repeat(12)}`]?.[0]?.meanMs, 20);
  // 100 ms is time enough for the int8 bytes (20 ms) and not for the default (400 ms): each is judged on its own.
  const fast = clock.track(scheduler.submit(call(INT8, 100)));
  const slow = clock.track(scheduler.submit(call(DEFAULT, 100)));
  await clock.advanceUntil([fast, slow]);
  assert.equal(fast.state, "fulfilled");
  assert.equal(slow.state, "rejected");
  assert.ok(slow.error instanceof HttpError && slow.error.status === 503, String(slow.error));
});
