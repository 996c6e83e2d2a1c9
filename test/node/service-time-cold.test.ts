/**
 * A fresh session's first run (onnxruntime's lazy setup: 60 ms for silero-vad against 3 ms
 * warm) must not keep its bucket's prediction wrong once warm runs come in.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HostModel } from "../../durable-objects/model-host/contract.ts";
import { Scheduler, type RunModel } from "../../scheduler/scheduler.ts";
import { ServiceTimePredictor } from "../../scheduler/service-time.ts";

const WORK = 512;

test("a cold first run seeds an empty bucket, and the first warm runs replace it", () => {
  const predictor = new ServiceTimePredictor();
  predictor.observe(WORK, 60, true);
  assert.equal(predictor.mean(WORK), 60, "better than the prior until something warm is measured");
  for (let i = 0; i < 3; i++) predictor.observe(WORK, 3);
  assert.ok(Math.abs(predictor.mean(WORK) - 3) < 0.5, `mean ${predictor.mean(WORK)} ms`);
  assert.ok(predictor.upper(WORK) < 4, `upper ${predictor.upper(WORK)} ms`);
});

test("a cold run after a reload does not disturb a bucket already measured warm", () => {
  const predictor = new ServiceTimePredictor();
  for (let i = 0; i < 5; i++) predictor.observe(WORK, 3);
  predictor.observe(WORK, 60, true);
  predictor.observe(WORK, 3);
  assert.ok(Math.abs(predictor.mean(WORK) - 3) < 0.5, `mean ${predictor.mean(WORK)} ms`);
  assert.ok(predictor.upper(WORK) < 4, `upper ${predictor.upper(WORK)} ms`);
});

test("a second cold run into a bucket only a cold run seeded is ignored, as is its sample count", () => {
  const predictor = new ServiceTimePredictor();
  predictor.observe(WORK, 60, true);
  predictor.observe(WORK, 80, true);
  assert.equal(predictor.mean(WORK), 60);
  predictor.observe(WORK, 3);
  assert.equal(predictor.mean(WORK), 3);
  assert.equal(predictor.snapshot()[0]!.samples, 2);
});

test("warm runs alone still average as before", () => {
  const predictor = new ServiceTimePredictor();
  predictor.observe(WORK, 10);
  predictor.observe(WORK, 5);
  assert.equal(predictor.mean(WORK), 9);
});

test("the scheduler passes a run's firstRun mark to the predictor", async () => {
  const model: HostModel = { name: "vad", version: "1", r2Key: "k", sha256: "s", bytes: 1, maxBatch: 1, maxQueueDelayMs: 0, batchAxes: undefined };
  let runs = 0;
  // The first run on a fresh session is the slow one, as the ModelHost reports it.
  const run: RunModel = async (_model, inputs) => ({ outputs: inputs, loadMs: 0, inferMs: runs++ === 0 ? 60 : 3, firstRun: runs === 1 });
  const scheduler = new Scheduler({ maxQueueLength: 4, run });
  for (let i = 0; i < 2; i++)
    await scheduler.submit({
      model,
      inputs: [{ name: "x", datatype: "FP32", shape: [1, WORK], data: new Float32Array(WORK) }],
      outputNames: ["x"],
      requestId: `r${i}`,
      tenant: "t",
      priority: 2,
      deadline: Date.now() + 5_000,
      maxQueueWaitMs: 5_000,
    });
  const [stat] = Object.values(scheduler.serviceTimes())[0]!;
  assert.equal(stat!.meanMs, 3);
});

test("an estimate counts as measured near warm runs or between them, not on a line drawn far past them", () => {
  const predictor = new ServiceTimePredictor();
  predictor.observe(4_000_000, 4000);
  predictor.observe(4_000_000, 4000);
  // Two huge runs would put a 576-element request at half their time: not a measure of it.
  assert.ok(predictor.mean(576) > 1000);
  assert.equal(predictor.measured(576), false);
  assert.equal(predictor.measured(2_500_000), true, "within 2x of a warm bucket");
  predictor.observe(576, 1.5);
  assert.equal(predictor.measured(576), true);
  assert.equal(predictor.measured(40_000), true, "between two warm buckets");
  assert.equal(predictor.measured(50), false, "far below the smallest");
});
