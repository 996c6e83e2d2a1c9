/**
 * The ModelHost scheduler with a model whose run takes a known time (a timer, so the thread stays
 * free as it would while a GPU or another isolate works): deadlines answered by timer, early
 * refusal, shedding, cancellation, priority order, and batching that equals unbatched runs.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { HostInferCall, HostModel } from "../../durable-objects/model-host/contract.ts";
import { Scheduler, type RunModel } from "../../scheduler/scheduler.ts";
import { mergeInputs, splitOutputs, type BatchAxes } from "../../protocol/batching.ts";
import { HttpError } from "../../protocol/errors.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";

const AXES: BatchAxes = { inputs: { x: 0 }, outputs: { y: 0 } };
const MODEL: HostModel = { name: "double", version: "1", r2Key: "k", sha256: "s", bytes: 1, maxBatch: 8, maxQueueDelayMs: 0, batchAxes: AXES };
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

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (error) {
    assert.ok(error instanceof HttpError, String(error));
    return error.status;
  }
}

describe("Scheduler", () => {
  test("a queued request whose deadline passes is answered 504 at its deadline, not when the model frees up", async () => {
    const scheduler = new Scheduler({ maxQueueLength: 16, run: doubling(300) });
    const busy = scheduler.submit(call(1, { model: { ...MODEL, batchAxes: undefined } }));
    await sleep(5);
    const started = Date.now();
    const late = scheduler.submit(call(2, { deadlineInMs: 60, model: { ...MODEL, batchAxes: undefined } }));
    await assert.rejects(late, (e: HttpError) => e.status === 504);
    const tookMs = Date.now() - started;
    assert.ok(tookMs >= 55 && tookMs < 200, `504 after ${tookMs} ms`);
    await busy;
    assert.equal(scheduler.counters.expired, 1);
  });

  test("says no at once (503, Retry-After) when the work ahead cannot finish before the deadline", async () => {
    const scheduler = new Scheduler({ maxQueueLength: 64, run: doubling(40) });
    const solo = { ...MODEL, batchAxes: undefined };
    await scheduler.submit(call(1, { model: solo })); // teaches the predictor: a run takes ~40 ms
    const queued = [1, 2, 3, 4].map((v) => scheduler.submit(call(v, { model: solo })));
    const started = Date.now();
    const refused = scheduler.submit(call(9, { model: solo, deadlineInMs: 100 }));
    await assert.rejects(refused, (e: HttpError) => e.status === 503 && (e.retryAfterSeconds ?? 0) >= 1 && /deadline/.test(e.message));
    assert.ok(Date.now() - started < 20, "refused without waiting");
    await Promise.all(queued);
  });

  test("a full queue refuses with 503, or sheds less important work for more important", async () => {
    const scheduler = new Scheduler({ maxQueueLength: 3, run: doubling(50) });
    const solo = { ...MODEL, batchAxes: undefined };
    const running = scheduler.submit(call(0, { model: solo, priority: 3 }));
    await sleep(5);
    const free = [1, 2, 3].map((v) => status(scheduler.submit(call(v, { model: solo, priority: 3 }))));
    assert.equal(await status(scheduler.submit(call(4, { model: solo, priority: 3 }))), 503); // full, nothing less important
    const premium = status(scheduler.submit(call(5, { model: solo, priority: 1 })));
    const outcomes = await Promise.all(free);
    assert.deepEqual(outcomes.sort(), [200, 200, 503]); // the newest free request was shed
    assert.equal(await premium, 200);
    await running;
    assert.equal(scheduler.counters.shed, 1);
    assert.equal(scheduler.counters.rejectedFull, 1);
  });

  test("higher priority runs first; a cancelled request never runs", async () => {
    const runs: number[][] = [];
    const scheduler = new Scheduler({ maxQueueLength: 16, run: doubling(20, runs) });
    const solo = { ...MODEL, batchAxes: undefined };
    const first = scheduler.submit(call(0, { model: solo }));
    await sleep(2);
    const low = scheduler.submit(call(3, { model: solo, priority: 3 }));
    const cancelled = call(7, { model: solo, priority: 1 });
    const gone = scheduler.submit(cancelled);
    const high = scheduler.submit(call(1, { model: solo, priority: 1 }));
    assert.equal(scheduler.cancel(cancelled.requestId), true);
    await assert.rejects(gone, (e: HttpError) => e.status === 499);
    await Promise.all([first, low, high]);
    assert.deepEqual(runs.map((r) => r[0]), [0, 1, 3]);
    assert.equal(scheduler.cancel(cancelled.requestId), false);
  });

  test("queued requests of one shape run as one batch, with the outputs of separate runs", async () => {
    const runs: number[][] = [];
    const scheduler = new Scheduler({ maxQueueLength: 16, run: doubling(30, runs) });
    const first = scheduler.submit(call(100));
    await sleep(2);
    const values = [1, 2, 3, 4, 5];
    const results = await Promise.all([first, ...values.map((v) => scheduler.submit(call(v)))]);
    assert.deepEqual(runs, [[100], [1, 2, 3, 4, 5]]);
    results.slice(1).forEach((result, k) => {
      assert.deepEqual(Array.from(result.outputs[0]!.data as Float32Array), [values[k]! * 2]);
      assert.deepEqual(result.outputs[0]!.shape, [1, 1]);
      assert.equal(result.timing.batchSize, 5);
    });
  });

  test("max_queue_delay holds a lone request to fill a batch, but never past its deadline", async () => {
    const runs: number[][] = [];
    const delayed = { ...MODEL, maxQueueDelayMs: 40 };
    const scheduler = new Scheduler({ maxQueueLength: 16, run: doubling(5, runs) });
    const a = scheduler.submit(call(1, { model: delayed }));
    await sleep(10);
    const b = scheduler.submit(call(2, { model: delayed }));
    await Promise.all([a, b]);
    assert.deepEqual(runs, [[1, 2]]);

    const started = Date.now();
    await scheduler.submit(call(3, { model: { ...delayed, maxQueueDelayMs: 1_000 }, deadlineInMs: 80 }));
    assert.ok(Date.now() - started < 80, "ran before its deadline instead of waiting for company");
  });

  test("load() reports the wait ahead of each priority: premium sees only the work it would wait for", async () => {
    const solo = { ...MODEL, batchAxes: undefined };
    const scheduler = new Scheduler({ maxQueueLength: 64, run: doubling(20), reportPriorities: [1, 2, 3] });
    scheduler.observe(solo, call(0).inputs, 20);
    const sent = [scheduler.submit(call(0, { model: solo, priority: 1 }))];
    await sleep(2);
    for (let k = 0; k < 6; k++) sent.push(scheduler.submit(call(k, { model: solo, priority: 3 })));
    sent.push(scheduler.submit(call(9, { model: solo, priority: 1 })));
    const load = scheduler.load();
    // premium waits for the running job and the one queued premium job; free waits for all 7
    assert.ok(load.waitAheadMs[1]! >= 20 && load.waitAheadMs[1]! <= 45, JSON.stringify(load));
    assert.ok(Math.abs(load.waitAheadMs[2]! - load.waitAheadMs[1]!) <= 2, "nothing of priority 2 is queued");
    assert.ok(load.waitAheadMs[3]! >= 7 * 20 - 5 && Math.abs(load.waitAheadMs[3]! - load.backlogMs) <= 2, JSON.stringify(load));
    await Promise.all(sent);
  });

  test("the predicted wait counts queued requests that will share a run as one run, though each brings its own model record", async () => {
    // Like calls over RPC: equal model records, never the same object.
    const copy = (): HostModel => ({ ...MODEL, maxBatch: 8 });
    const scheduler = new Scheduler({ maxQueueLength: 64, run: doubling(30), reportPriorities: [2] });
    scheduler.observe(copy(), call(0).inputs, 30);
    scheduler.observe(copy(), [{ name: "x", datatype: "FP32", shape: [8, 1], data: new Float32Array(8) }], 30); // a run of 8 rows takes as long
    const first = scheduler.submit(call(0, { model: copy() }));
    await sleep(2);
    const queued = Array.from({ length: 16 }, (_, k) => scheduler.submit(call(k, { model: copy() })));
    const { waitAheadMs, backlogMs } = scheduler.load();
    // The running job, then two runs of 8 rows: about 3 x 30 ms, not 17 x 30 ms.
    assert.ok(backlogMs > 2 * 30 && backlogMs < 4 * 30, `16 queued rows predicted as ${backlogMs.toFixed(0)} ms of work`);
    assert.ok(Math.abs(waitAheadMs[2]! - backlogMs) <= 2, JSON.stringify({ waitAheadMs, backlogMs }));
    await Promise.all([first, ...queued]);
  });

  test("time lost between runs while work waits counts in the predicted wait, so admission refuses what it cannot finish", async () => {
    const solo = { ...MODEL, batchAxes: undefined };
    // Each run, as it ends, leaves 25 ms of other work on the thread (as the router's does when
    // it shares the thread with the host): the next run starts that much later.
    const blockAfterRun: RunModel = async (model, inputs, names) => {
      const result = await doubling(5)(model, inputs, names);
      setTimeout(() => {
        const until = performance.now() + 25;
        while (performance.now() < until);
      }, 0);
      return result;
    };
    const scheduler = new Scheduler({ maxQueueLength: 64, run: blockAfterRun });
    await Promise.all(Array.from({ length: 12 }, (_, k) => scheduler.submit(call(k, { model: solo }))));
    const { gapMs } = scheduler.load();
    assert.ok(gapMs > 15 && gapMs < 40, `gap ${gapMs.toFixed(1)} ms`);
    // 10 queued runs of 5 ms each take about 300 ms with the gaps, not 50: a 150 ms deadline is refused at once
    const queued = Array.from({ length: 10 }, (_, k) => scheduler.submit(call(k, { model: solo })));
    const started = Date.now();
    await assert.rejects(scheduler.submit(call(99, { model: solo, deadlineInMs: 150 })), (e: HttpError) => e.status === 503);
    assert.ok(Date.now() - started < 20, "refused at once");
    await Promise.all(queued);
  });

  test("under the tiered policy, lower tiers' waits stretch by the share of the thread more important work uses", async () => {
    const solo = { ...MODEL, batchAxes: undefined };
    const scheduler = new Scheduler({ maxQueueLength: 64, run: doubling(20), reportPriorities: [1, 3], busyWindowMs: 300 });
    scheduler.observe(solo, call(0).inputs, 20);
    // Premium arrives every 25 ms with 20 ms runs: about 80% of the thread, for 600 ms (two windows).
    const premium: Promise<unknown>[] = [];
    const stream = setInterval(() => premium.push(status(scheduler.submit(call(1, { model: solo, priority: 1 })))), 25);
    const standard: Promise<number>[] = [];
    try {
      await sleep(600);
      standard.push(...[1, 2, 3].map((v) => status(scheduler.submit(call(v, { model: solo, priority: 3 })))));
      const load = scheduler.load();
      // Premium waits for its queue alone; free's wait is its queue stretched by premium's share.
      assert.ok(load.waitAheadMs[1]! <= load.backlogMs + 1, JSON.stringify(load));
      assert.ok(load.waitAheadMs[3]! >= 2.5 * load.backlogMs, `free not stretched enough: ${JSON.stringify(load)}`);
      // A request whose queue alone would fit its deadline, but not once premium keeps arriving: 503 at once.
      const deadlineInMs = Math.round(load.backlogMs + 20 + (load.waitAheadMs[3]! - load.backlogMs) / 2);
      const started = Date.now();
      assert.equal(await status(scheduler.submit(call(9, { model: solo, priority: 3, deadlineInMs }))), 503, `deadline ${deadlineInMs} ms, load ${JSON.stringify(load)}`);
      assert.ok(Date.now() - started < 20, "refused at once");
    } finally {
      clearInterval(stream);
      await Promise.all([...premium, ...standard]);
    }
    // Once premium stops, its share decays and the stretch with it.
    await sleep(1_200);
    const idle = [4, 5, 6].map((v) => scheduler.submit(call(v, { model: solo, priority: 3 })));
    const after = scheduler.load();
    assert.ok(after.waitAheadMs[3]! <= 1.15 * after.backlogMs + 1, `still stretched: ${JSON.stringify(after)}`);
    await Promise.all(idle);
  });

  test("observe() teaches the predictor a warm-up run without counting it as served", async () => {
    const solo = { ...MODEL, batchAxes: undefined };
    const scheduler = new Scheduler({ maxQueueLength: 8, run: doubling(5) });
    const inputs = call(0).inputs;
    scheduler.observe(solo, inputs, 400);
    assert.equal(scheduler.counters.admitted, 0);
    assert.equal(scheduler.serviceTimes()["double@1"]?.[0]?.meanMs, 400);
    // one 400 ms run predicted ahead: a second request with a 300 ms deadline is refused at once
    const first = scheduler.submit(call(1, { model: solo }));
    await assert.rejects(scheduler.submit(call(2, { model: solo, deadlineInMs: 300 })), (e: HttpError) => e.status === 503);
    await first;
  });

  test("max_batch caps the rows in one run", async () => {
    const runs: number[][] = [];
    const scheduler = new Scheduler({ maxQueueLength: 32, run: doubling(10, runs) });
    const first = scheduler.submit(call(0, { model: { ...MODEL, maxBatch: 3 } }));
    await sleep(2);
    await Promise.all([first, ...[1, 2, 3, 4, 5, 6, 7].map((v) => scheduler.submit(call(v, { model: { ...MODEL, maxBatch: 3 } })))]);
    assert.ok(runs.every((r) => r.length <= 3), JSON.stringify(runs));
    assert.equal(runs.flat().length, 8);
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
          assert.equal(merged[0]!.shape[axis], sizes.reduce((a, b) => a + b, 0));
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
