/**
 * @module The ModelHost scheduler with a model whose run takes a known time (a timer, so the
 * thread stays free as it would while a GPU or another isolate works): deadlines answered by
 * timer, early refusal, shedding, cancellation, priority order, and batching that equals
 * unbatched runs. Time is virtual (virtual-clock.ts): every wait is exact and nothing depends on
 * the machine's load.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { HostInferCall, HostModel } from "../../durable-objects/model-host/contract.ts";
import { Scheduler, type RunModel } from "../../scheduler/scheduler.ts";
import type { ScheduledResult } from "../../scheduler/contract.ts";
import { mergeInputs, splitOutputs, type BatchAxes } from "../../protocol/batching.ts";
import { HttpError } from "../../protocol/errors.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { VirtualClock, type Tracked } from "./virtual-clock.ts";

const AXES: BatchAxes = { inputs: { x: 0 }, outputs: { y: 0 } };
const MODEL: HostModel = { name: "double", version: "1", r2Key: "k", sha256: "s", bytes: 1, maxBatch: 8, maxQueueDelayMs: 0, batchAxes: AXES };
/** The same model without batch axes: every request runs alone. */
const SOLO: HostModel = { ...MODEL, batchAxes: undefined };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A "model" that doubles its input and takes `ms` per run, recording each run's batch. */
function doubling(ms: number, runs: number[][] = []): RunModel {
  return async (_model, inputs) => {
    const x = inputs[0]!;
    runs.push(Array.from(x.data as Float32Array));
    await sleep(ms);
    return { outputs: [{ name: "y", datatype: "FP32", shape: x.shape, data: (x.data as Float32Array).map((v) => v * 2) }], loadMs: 0, inferMs: ms };
  };
}

let nextId = 0;
function call(value: number, opts: Partial<HostInferCall> & { deadlineInMs?: number } = {}): HostInferCall {
  return {
    model: MODEL,
    inputs: [{ name: "x", datatype: "FP32", shape: [1, 1], data: new Float32Array([value]) }],
    outputNames: ["y"],
    requestId: `r${nextId++}`,
    tenant: "t",
    priority: 2,
    deadline: Date.now() + (opts.deadlineInMs ?? 5_000),
    maxQueueWaitMs: 5_000,
    ...opts,
  };
}

/** The HTTP status a request would get: 200, or its HttpError's; undefined while pending. */
function statusOf(tracked: Tracked<unknown>): number | undefined {
  if (tracked.state === "pending") return undefined;
  if (tracked.state === "fulfilled") return 200;
  assert.ok(tracked.error instanceof HttpError, String(tracked.error));
  return tracked.error.status;
}

function errorOf(tracked: Tracked<unknown>): HttpError {
  assert.equal(tracked.state, "rejected");
  assert.ok(tracked.error instanceof HttpError, String(tracked.error));
  return tracked.error;
}

describe("Scheduler", () => {
  test("a queued request whose deadline passes is answered 504 at its deadline, not when the model frees up", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 16, run: doubling(300) });
    const busy = clock.track(scheduler.submit(call(1, { model: SOLO })));
    await clock.advance(5);
    const submittedAt = clock.now();
    const late = clock.track(scheduler.submit(call(2, { deadlineInMs: 60, model: SOLO })));
    await clock.advance(59);
    assert.equal(late.state, "pending", "not before its deadline");
    await clock.advance(1);
    assert.equal(statusOf(late), 504);
    assert.equal(late.at! - submittedAt, 60);
    assert.equal(busy.state, "pending", "answered while the model is still busy");
    await clock.advanceUntil([busy]);
    assert.equal(busy.at! - submittedAt, 295);
    assert.equal(scheduler.counters.expired, 1);
  });

  test("says no at once (503, Retry-After) when the work ahead cannot finish before the deadline", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 64, run: doubling(40) });
    await clock.advanceUntil([clock.track(scheduler.submit(call(1, { model: SOLO })))]); // teaches the predictor: a run takes 40 ms
    const queued = [1, 2, 3, 4].map((v) => clock.track(scheduler.submit(call(v, { model: SOLO }))));
    const refused = clock.track(scheduler.submit(call(9, { model: SOLO, deadlineInMs: 100 })));
    await clock.flush(); // no time passes
    const error = errorOf(refused);
    assert.equal(error.status, 503);
    assert.match(error.message, /^cannot finish before the deadline: about \d+ ms of work is queued ahead/);
    assert.ok((error.retryAfterSeconds ?? 0) >= 1, `Retry-After ${error.retryAfterSeconds}`);
    await clock.advanceUntil(queued);
    assert.deepEqual(queued.map(statusOf), [200, 200, 200, 200]);
  });

  test("a full queue refuses with 503, or sheds less important work for more important", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 3, run: doubling(50) });
    const running = clock.track(scheduler.submit(call(0, { model: SOLO, priority: 3 })));
    await clock.advance(5);
    const free = [1, 2, 3].map((v) => clock.track(scheduler.submit(call(v, { model: SOLO, priority: 3 }))));
    const overflow = clock.track(scheduler.submit(call(4, { model: SOLO, priority: 3 })));
    await clock.flush();
    assert.equal(statusOf(overflow), 503, "full, and nothing queued is less important");
    const premium = clock.track(scheduler.submit(call(5, { model: SOLO, priority: 1 })));
    await clock.advanceUntil([running, ...free, premium]);
    assert.deepEqual(free.map(statusOf), [200, 200, 503], "the newest free request was shed");
    assert.equal(statusOf(premium), 200);
    assert.equal(scheduler.counters.shed, 1);
    assert.equal(scheduler.counters.rejectedFull, 1);
  });

  test("higher priority runs first; a cancelled request never runs", async (t) => {
    const clock = new VirtualClock(t);
    const runs: number[][] = [];
    const scheduler = new Scheduler({ maxQueueLength: 16, run: doubling(20, runs) });
    const first = clock.track(scheduler.submit(call(0, { model: SOLO })));
    await clock.advance(2);
    const low = clock.track(scheduler.submit(call(3, { model: SOLO, priority: 3 })));
    const cancelled = call(7, { model: SOLO, priority: 1 });
    const gone = clock.track(scheduler.submit(cancelled));
    const high = clock.track(scheduler.submit(call(1, { model: SOLO, priority: 1 })));
    assert.equal(scheduler.cancel(cancelled.requestId), true);
    await clock.advanceUntil([first, low, high, gone]);
    assert.equal(statusOf(gone), 499);
    assert.deepEqual([first, low, high].map(statusOf), [200, 200, 200]);
    assert.deepEqual(
      runs.map((r) => r[0]),
      [0, 1, 3],
    );
    assert.equal(scheduler.cancel(cancelled.requestId), false);
  });

  test("queued requests of one shape run as one batch, with the outputs of separate runs", async (t) => {
    const clock = new VirtualClock(t);
    const runs: number[][] = [];
    const scheduler = new Scheduler({ maxQueueLength: 16, run: doubling(30, runs) });
    const first = clock.track(scheduler.submit(call(100)));
    await clock.advance(2);
    const values = [1, 2, 3, 4, 5];
    const queued = values.map((v) => clock.track(scheduler.submit(call(v))));
    await clock.advanceUntil([first, ...queued]);
    assert.deepEqual(runs, [[100], [1, 2, 3, 4, 5]]);
    queued.forEach(({ value }, k) => {
      assert.deepEqual(Array.from(value!.outputs[0]!.data as Float32Array), [values[k]! * 2]);
      assert.deepEqual(value!.outputs[0]!.shape, [1, 1]);
      assert.equal(value!.timing.batchSize, 5);
    });
  });

  test("max_queue_delay holds a lone request to fill a batch, but never past its deadline", async (t) => {
    const clock = new VirtualClock(t);
    const runs: number[][] = [];
    const delayed = { ...MODEL, maxQueueDelayMs: 40 };
    const scheduler = new Scheduler({ maxQueueLength: 16, run: doubling(5, runs) });
    const a = clock.track(scheduler.submit(call(1, { model: delayed })));
    await clock.advance(10);
    const b = clock.track(scheduler.submit(call(2, { model: delayed })));
    await clock.advanceUntil([a, b]);
    assert.deepEqual(runs, [[1, 2]]);
    assert.equal(a.value!.timing.queueMs, 40, "held for the whole max_queue_delay");

    // Company could come for a second, but the deadline is 80 ms away: it runs in time.
    const deadline = clock.now() + 80;
    const c = clock.track(scheduler.submit(call(3, { model: { ...delayed, maxQueueDelayMs: 1_000 }, deadline })));
    await clock.advanceUntil([c]);
    assert.equal(statusOf(c), 200);
    assert.ok(c.at! <= deadline, `answered ${c.at! - deadline} ms after its deadline`);
  });

  test("load() reports the wait ahead of each priority: premium sees only the work it would wait for", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 64, run: doubling(20), reportPriorities: [1, 2, 3] });
    scheduler.observe(SOLO, call(0).inputs, 20);
    const sent = [clock.track(scheduler.submit(call(0, { model: SOLO, priority: 1 })))];
    await clock.advance(2);
    for (let k = 0; k < 6; k++) sent.push(clock.track(scheduler.submit(call(k, { model: SOLO, priority: 3 }))));
    sent.push(clock.track(scheduler.submit(call(9, { model: SOLO, priority: 1 }))));
    const load = scheduler.load();
    // 18 ms left of the running job; premium then waits for the one queued premium job, free for all 7.
    assert.deepEqual(load.waitAheadMs, { 1: 18 + 20, 2: 18 + 20, 3: 18 + 7 * 20 }, JSON.stringify(load));
    assert.equal(load.backlogMs, 18 + 7 * 20);
    await clock.advanceUntil(sent);
  });

  test("the predicted wait counts queued requests that will share a run as one run, though each brings its own model record", async (t) => {
    const clock = new VirtualClock(t);
    // Like calls over RPC: equal model records, never the same object.
    const copy = (): HostModel => ({ ...MODEL, maxBatch: 8 });
    const scheduler = new Scheduler({ maxQueueLength: 64, run: doubling(30), reportPriorities: [2] });
    scheduler.observe(copy(), call(0).inputs, 30);
    scheduler.observe(copy(), [{ name: "x", datatype: "FP32", shape: [8, 1], data: new Float32Array(8) }], 30); // a run of 8 rows takes as long
    const first = clock.track(scheduler.submit(call(0, { model: copy() })));
    await clock.advance(2);
    const queued = Array.from({ length: 16 }, (_, k) => clock.track(scheduler.submit(call(k, { model: copy() }))));
    const { waitAheadMs, backlogMs } = scheduler.load();
    // 28 ms left of the running job, then two runs of 8 rows: not 16 runs of one.
    assert.equal(backlogMs, 28 + 2 * 30, `16 queued rows predicted as ${backlogMs} ms of work`);
    assert.equal(waitAheadMs[2], backlogMs);
    await clock.advanceUntil([first, ...queued]);
  });

  test("time lost between runs while work waits counts in the predicted wait, so admission refuses what it cannot finish", async (t) => {
    const clock = new VirtualClock(t);
    // Each run, as it ends, leaves 25 ms of other work on the thread (as the router's does when
    // it shares the thread with the host): the next run starts that much later.
    const blockAfterRun: RunModel = async (model, inputs, names) => {
      const result = await doubling(5)(model, inputs, names);
      setTimeout(() => clock.block(25), 0);
      return result;
    };
    const scheduler = new Scheduler({ maxQueueLength: 64, run: blockAfterRun });
    await clock.advanceUntil(Array.from({ length: 12 }, (_, k) => clock.track(scheduler.submit(call(k, { model: SOLO })))));
    // Each gap was 26 ms (the 25 taken and the scheduler's own 1 ms turn); the running mean nears it.
    const { gapMs } = scheduler.load();
    assert.ok(gapMs > 15 && gapMs <= 26, `gap ${gapMs.toFixed(1)} ms`);
    // 10 queued runs of 5 ms take about 300 ms with the gaps, not 50: a 150 ms deadline is refused at once.
    const queued = Array.from({ length: 10 }, (_, k) => clock.track(scheduler.submit(call(k, { model: SOLO }))));
    const refused = clock.track(scheduler.submit(call(99, { model: SOLO, deadlineInMs: 150 })));
    await clock.flush();
    assert.equal(statusOf(refused), 503);
    await clock.advanceUntil(queued);
  });

  test("under the tiered policy, lower tiers' waits stretch by the share of the thread more important work uses", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 64, run: doubling(20), reportPriorities: [1, 3], busyWindowMs: 300 });
    scheduler.observe(SOLO, call(0).inputs, 20);
    // Premium arrives every 25 ms with 20 ms runs: over 80% of the thread, for 600 ms (two windows).
    const premium: Tracked<ScheduledResult>[] = [];
    const stream = setInterval(() => premium.push(clock.track(scheduler.submit(call(1, { model: SOLO, priority: 1 })))), 25);
    await clock.advance(600);
    const standard = [1, 2, 3].map((v) => clock.track(scheduler.submit(call(v, { model: SOLO, priority: 3 }))));
    const load = scheduler.load();
    // Premium waits for its queue alone; free's wait is its queue stretched by premium's share.
    assert.ok(load.backlogMs > 0, JSON.stringify(load));
    assert.ok(load.waitAheadMs[1]! <= load.backlogMs, JSON.stringify(load));
    assert.ok(load.waitAheadMs[3]! >= 2.5 * load.backlogMs, `free not stretched enough: ${JSON.stringify(load)}`);
    // A request whose queue alone would fit its deadline, but not once premium keeps arriving: 503 at once.
    const deadlineInMs = Math.round(load.backlogMs + 20 + (load.waitAheadMs[3]! - load.backlogMs) / 2);
    const refused = clock.track(scheduler.submit(call(9, { model: SOLO, priority: 3, deadlineInMs })));
    await clock.flush();
    assert.equal(statusOf(refused), 503, `deadline ${deadlineInMs} ms, load ${JSON.stringify(load)}`);
    clearInterval(stream);
    await clock.advanceUntil([...premium, ...standard]);
    assert.ok([...premium, ...standard].every((r) => statusOf(r) === 200));

    // Once premium stops, its share decays and the stretch with it.
    await clock.advance(1_200);
    const idle = [4, 5, 6].map((v) => clock.track(scheduler.submit(call(v, { model: SOLO, priority: 3 }))));
    const after = scheduler.load();
    assert.ok(after.waitAheadMs[3]! <= 1.15 * after.backlogMs, `still stretched: ${JSON.stringify(after)}`);
    await clock.advanceUntil(idle);
  });

  test("observe() teaches the predictor a warm-up run without counting it as served", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 8, run: doubling(5) });
    scheduler.observe(SOLO, call(0).inputs, 400);
    assert.equal(scheduler.counters.admitted, 0);
    assert.equal(scheduler.serviceTimes()["double@1"]?.[0]?.meanMs, 400);
    // one 400 ms run predicted ahead: a second request with a 300 ms deadline is refused at once
    const first = clock.track(scheduler.submit(call(1, { model: SOLO })));
    const second = clock.track(scheduler.submit(call(2, { model: SOLO, deadlineInMs: 300 })));
    await clock.flush();
    assert.equal(statusOf(second), 503);
    await clock.advanceUntil([first]);
  });

  test("max_batch caps the rows in one run", async (t) => {
    const clock = new VirtualClock(t);
    const runs: number[][] = [];
    const capped = { ...MODEL, maxBatch: 3 };
    const scheduler = new Scheduler({ maxQueueLength: 32, run: doubling(10, runs) });
    const first = clock.track(scheduler.submit(call(0, { model: capped })));
    await clock.advance(2);
    await clock.advanceUntil([first, ...[1, 2, 3, 4, 5, 6, 7].map((v) => clock.track(scheduler.submit(call(v, { model: capped }))))]);
    assert.deepEqual(runs, [[0], [1, 2, 3], [4, 5, 6], [7]]);
  });
});

describe("merge and split", () => {
  test("split(merge(requests)) gives back each request, along any batch axis", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 3 }),
        (axis, sizes, other) => {
          const axes: BatchAxes = { inputs: { x: axis }, outputs: { x: axis } };
          let counter = 0;
          const requests: Tensor[][] = sizes.map((size) => {
            const shape = [other, other, other];
            shape[axis] = size;
            const data = Float32Array.from({ length: shape[0]! * shape[1]! * shape[2]! }, () => counter++);
            return [{ name: "x", datatype: "FP32", shape, data }];
          });
          const merged = mergeInputs(requests, axes);
          assert.equal(
            merged[0]!.shape[axis],
            sizes.reduce((a, b) => a + b, 0),
          );
          const back = splitOutputs(merged, axes, sizes);
          back.forEach((parts, k) => {
            assert.deepEqual(parts[0]!.shape, requests[k]![0]!.shape);
            assert.deepEqual(Array.from(parts[0]!.data as Float32Array), Array.from(requests[k]![0]!.data as Float32Array));
          });
        },
      ),
    );
  });
});
