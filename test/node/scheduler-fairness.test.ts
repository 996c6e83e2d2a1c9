/**
 * @module Fair share between tenants of one tier, through the real Scheduler (not the queue
 * alone), in the shape of the `start` bench's fairness part (scripts/bench/start-fairness.ts):
 * the compute-bound model (max_batch 64, no queue delay, 64 rows per request, so each request is
 * one run of about 26 ms), one standard tenant flooding with 10 closed-loop clients beside another
 * sending one request every 150 ms. The waits are the host's own (Server-Timing `queue`). Time is
 * virtual (virtual-clock.ts), so the figures are exact and independent of the machine.
 */
import assert from "node:assert/strict";
import { describe, test, type TestContext } from "node:test";
import type { HostInferCall, HostModel } from "../../durable-objects/model-host/contract.ts";
import { TIERS } from "../../config/tiers.ts";
import { Scheduler, type RunModel, type SchedulingPolicy } from "../../scheduler/scheduler.ts";
import { HttpError } from "../../protocol/errors.ts";
import { VirtualClock } from "./virtual-clock.ts";

/** The bench's upload: max_batch 64 rows, max_queue_delay 0 (scripts/bench/start-overload.ts). */
const ROWS = 64;
const MODEL: HostModel = {
  name: "mlp-compute",
  version: "1",
  r2Key: "k",
  sha256: "s",
  bytes: 1,
  maxBatch: ROWS,
  maxQueueDelayMs: 0,
  batchAxes: { inputs: { input: 0 }, outputs: { output: 0 } },
};
/** One run of 64 rows on the start bench's machine: its capacity was 38.6 req/s. */
const RUN_MS = 26;
const FLOOD_CLIENTS = 10;
const TRICKLE_EVERY_MS = 150;
/** Between an answer and the flood client's next request reaching the host (the router's hop). */
const ROUND_TRIP_MS = 2;
const DURATION_MS = 10_000;
const STANDARD = TIERS.standard;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const runModel: RunModel = async (_model, inputs) => {
  await sleep(RUN_MS);
  const rows = inputs[0]!.shape[0]!;
  return { outputs: [{ name: "output", datatype: "FP32", shape: [rows, 1], data: new Float32Array(rows) }], loadMs: 0, inferMs: RUN_MS };
};

let nextId = 0;
function call(tenant: string): HostInferCall {
  return {
    model: MODEL,
    inputs: [{ name: "input", datatype: "FP32", shape: [ROWS, 4], data: new Float32Array(ROWS * 4) }],
    outputNames: ["output"],
    requestId: `r${nextId++}`,
    tenant,
    priority: STANDARD.priority,
    deadline: Date.now() + STANDARD.defaultDeadlineMs,
    maxQueueWaitMs: STANDARD.maxQueueWaitMs,
  };
}

interface Waits {
  queueMs: number[];
  refused: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

/** Runs the bench's shape for DURATION_MS under `policy`; the trickle starts 1 s in and stops 2 s before the end, as the bench's does. */
async function floodBesideTrickle(t: TestContext, policy: SchedulingPolicy) {
  const clock = new VirtualClock(t);
  const scheduler = new Scheduler({ maxQueueLength: 256, policy, run: runModel, reportPriorities: [1, 2, 3] });
  const end = clock.now() + DURATION_MS;
  const flood: Waits = { queueMs: [], refused: 0 };
  const trickle: Waits = { queueMs: [], refused: 0 };
  const send = async (tenant: string, waits: Waits) => {
    try {
      waits.queueMs.push((await scheduler.submit(call(tenant))).timing.queueMs);
    } catch (error) {
      if (!(error instanceof HttpError && error.status === 503)) throw error;
      waits.refused++;
    }
  };
  const floodClient = async () => {
    while (clock.now() < end) {
      await send("flood", flood);
      await sleep(ROUND_TRIP_MS);
    }
  };
  const clients = Array.from({ length: FLOOD_CLIENTS }, floodClient);
  const trickleSent: Promise<void>[] = [];
  await clock.advance(1_000);
  while (clock.now() < end - 2_000) {
    trickleSent.push(send("trickle", trickle));
    await clock.advance(TRICKLE_EVERY_MS);
  }
  await clock.advance(end - clock.now() + 5_000); // the flood's last requests finish
  await Promise.all([...clients, ...trickleSent]);
  return { flood, trickle, completed: scheduler.counters.completed, ratio: median(trickle.queueMs) / median(flood.queueMs) };
}

describe("Scheduler: fair share between tenants of one tier (the start bench's shape)", () => {
  test("a trickle beside a flood waits at most half as long as the flood, with no loss of throughput", async (t) => {
    // Each run in a subtest of its own: the virtual clock is installed on, and restored with, its test.
    let fifo: Awaited<ReturnType<typeof floodBesideTrickle>> | undefined;
    let fair: Awaited<ReturnType<typeof floodBesideTrickle>> | undefined;
    await t.test("one queue in arrival order (the baseline)", async (run) => void (fifo = await floodBesideTrickle(run, "fifo")));
    await t.test("tiered policy", async (run) => void (fair = await floodBesideTrickle(run, "tiered")));
    assert.ok(fifo && fair);
    // The baseline makes the trickle wait behind the flood's whole backlog: the shape discriminates.
    assert.ok(fifo.ratio > 0.8, `fifo trickle/flood ratio ${fifo.ratio.toFixed(2)}`);
    assert.equal(fair.trickle.refused, 0, "no trickle request refused");
    assert.ok(fair.trickle.queueMs.length >= 40, `${fair.trickle.queueMs.length} trickle requests served`);
    const detail = `trickle p50 ${median(fair.trickle.queueMs)} ms, flood p50 ${median(fair.flood.queueMs)} ms (fifo: ${median(fifo.trickle.queueMs)} / ${median(fifo.flood.queueMs)} ms)`;
    assert.ok(fair.ratio <= 0.5, `trickle/flood ratio ${fair.ratio.toFixed(2)}: ${detail}`);
    assert.ok(Math.abs(fair.completed - fifo.completed) <= 0.05 * fifo.completed, `completed ${fair.completed} against fifo's ${fifo.completed}`);
  });
});
