/**
 * @module Admission under fair share: a tenant's request is judged by the work fair share serves
 * before it (its own tenant's queue, and a round of the others'), not by its whole tier's backlog.
 * One tenant flooding a tier past the tier's longest queue wait gets its own requests refused;
 * another tenant of the tier, with nothing queued, is still admitted and served next. The host
 * reports both waits (load()), so a router can tell them apart before it sends a request.
 * Time is virtual (virtual-clock.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HostInferCall, HostModel } from "../../durable-objects/model-host/contract.ts";
import { TIERS } from "../../config/tiers.ts";
import { Scheduler, type RunModel } from "../../scheduler/scheduler.ts";
import { waitAheadSince } from "../../scheduler/contract.ts";
import { HttpError } from "../../protocol/errors.ts";
import { VirtualClock, type Tracked } from "./virtual-clock.ts";

const MODEL: HostModel = { name: "compute", version: "1", r2Key: "k", sha256: "s", bytes: 1, maxBatch: 1, maxQueueDelayMs: 0, batchAxes: undefined };
const RUN_MS = 26;
const STANDARD = TIERS.standard;

const runModel: RunModel = async (_model, inputs) => {
  await new Promise((r) => setTimeout(r, RUN_MS));
  return { outputs: inputs, loadMs: 0, inferMs: RUN_MS };
};

let nextId = 0;
const call = (tenant: string): HostInferCall => ({
  model: MODEL,
  inputs: [{ name: "x", datatype: "FP32", shape: [1, 1], data: new Float32Array([1]) }],
  outputNames: ["x"],
  requestId: `r${nextId++}`,
  tenant,
  priority: STANDARD.priority,
  deadline: Date.now() + STANDARD.maxDeadlineMs,
  maxQueueWaitMs: STANDARD.maxQueueWaitMs,
});

const status = (r: Tracked<unknown>) => (r.state === "fulfilled" ? 200 : r.state === "rejected" ? (r.error as HttpError).status : undefined);

test("a tenant with nothing queued is admitted beside another tenant's flood that its tier could not take more of", async (t) => {
  const clock = new VirtualClock(t);
  const scheduler = new Scheduler({ maxQueueLength: 128, run: runModel, reportPriorities: [STANDARD.priority] });
  scheduler.observe(MODEL, call("x").inputs, RUN_MS);
  // 60 runs of 26 ms is 1.5 s of work: past the tier's 1 s queue wait, so the flood's tail is refused.
  const flood = Array.from({ length: 60 }, () => clock.track(scheduler.submit(call("flood"))));
  await clock.flush();
  const refusedFlood = flood.filter((r) => status(r) === 503).length;
  assert.ok(refusedFlood > 10, `flood refused ${refusedFlood} of 60`);
  const load = scheduler.load();
  const tierWait = load.waitAheadMs[STANDARD.priority]!;
  const newTenantWait = load.newTenantWaitAheadMs?.[STANDARD.priority] ?? Number.NaN;
  assert.ok(tierWait > STANDARD.maxQueueWaitMs * 0.9, `tier wait ${tierWait}`);
  assert.ok(newTenantWait <= 3 * RUN_MS, `new tenant's wait ${newTenantWait}`);
  // A router reads the one that applies to its caller.
  assert.equal(waitAheadSince(load, Date.now(), STANDARD.priority, Date.now(), 1_000, true), newTenantWait);
  assert.equal(waitAheadSince(load, Date.now(), STANDARD.priority, Date.now(), 1_000, false), tierWait);

  const again = clock.track(scheduler.submit(call("flood")));
  const trickle = clock.track(scheduler.submit(call("trickle")));
  await clock.flush();
  assert.equal(status(again), 503, "the flooding tenant's own next request is still refused");
  assert.equal(status(trickle), undefined, "the other tenant's request is admitted");
  const admittedAt = Date.now();
  await clock.advanceUntil([trickle]);
  assert.equal(status(trickle), 200);
  assert.ok(trickle.at! - admittedAt <= 4 * RUN_MS, `trickle answered after ${trickle.at! - admittedAt} ms`);
  await clock.advanceUntil(flood);
});

test("a full queue takes another tenant of the tier by shedding the newest request of the tenant that filled it; that tenant's own next is refused", async (t) => {
  const clock = new VirtualClock(t);
  const scheduler = new Scheduler({ maxQueueLength: 8, run: runModel, reportPriorities: [STANDARD.priority] });
  scheduler.observe(MODEL, call("x").inputs, RUN_MS);
  // One runs at once; eight wait (9 x 26 ms is well inside the tier's queue wait): the room is full.
  const flood = Array.from({ length: 9 }, () => clock.track(scheduler.submit(call("flood"))));
  await clock.flush();
  assert.equal(scheduler.load().queued, 8);
  const ownNext = clock.track(scheduler.submit(call("flood")));
  const trickle = [clock.track(scheduler.submit(call("trickle"))), clock.track(scheduler.submit(call("trickle")))];
  await clock.flush();
  assert.equal(status(ownNext), 503, "the tenant holding the room gets no more of it");
  assert.match((ownNext.error as HttpError).message, /^the model's queue is full/);
  const shed = flood.filter((r) => status(r) === 503);
  assert.deepEqual(
    shed.map((r) => (r.error as HttpError).message),
    Array(2).fill("shed to make room for another tenant of its tier: its tenant had the most requests queued"),
  );
  assert.deepEqual(
    shed.map((r) => flood.indexOf(r)),
    [7, 8],
    "the flood's two newest requests",
  );
  await clock.advanceUntil([...flood, ...trickle]);
  assert.deepEqual(trickle.map(status), [200, 200]);
  assert.equal(flood.filter((r) => status(r) === 200).length, 7);
});
