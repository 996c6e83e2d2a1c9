/**
 * @module One bad request never fails a batch across tenants: a call whose batched inputs
 * disagree on the batch size (or exceed max_batch) is refused 400 before it is queued; a merged
 * run that fails anyway is run again request by request, so only the faulty request fails; and
 * batch keys cannot collide, whatever the names and BYTES values hold. Time is virtual
 * (virtual-clock.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { HostInferCall, HostModel } from "../../durable-objects/model-host/contract.ts";
import { batchKey, type BatchAxes } from "../../protocol/batching.ts";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { checkInputs } from "../../protocol/oip/tensor-check.ts";
import type { Tensor, TensorSpec } from "../../protocol/oip/tensor.ts";
import type { ScheduledResult } from "../../scheduler/contract.ts";
import { Scheduler, type RunModel } from "../../scheduler/scheduler.ts";
import { VirtualClock, type Tracked } from "./virtual-clock.ts";

const AXES: BatchAxes = { inputs: { x: 0 }, outputs: { y: 0 } };
const MODEL: HostModel = { name: "double", version: "1", r2Key: "k", sha256: "s", bytes: 1, maxBatch: 8, maxQueueDelayMs: 20, batchAxes: AXES };
/** Silero VAD's layout: the batch is axis 0 of `input` and axis 1 of `state`; `sr` is shared. */
const VAD_AXES: BatchAxes = { inputs: { input: 0, state: 1, sr: null }, outputs: { output: 0, stateN: 1 } };
const VAD: HostModel = { ...MODEL, name: "vad", maxBatch: 16, batchAxes: VAD_AXES };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A "model" that doubles its input in 10 ms, and, like onnxruntime given one bad request's
 * tensors in a merged run, rejects the whole run when any value is negative.
 */
function poisonable(runs: number[][]): RunModel {
  return async (_model, inputs) => {
    const x = inputs[0]!;
    const values = Array.from(x.data as Float32Array);
    runs.push(values);
    await sleep(10);
    if (values.some((v) => v < 0)) throw badRequest("the model rejected the input: negative values");
    return { outputs: [{ name: "y", datatype: "FP32", shape: x.shape, data: (x.data as Float32Array).map((v) => v * 2) }], loadMs: 0, inferMs: 10 };
  };
}

let nextId = 0;
function call(value: number, tenant: string, opts: Partial<HostInferCall> = {}): HostInferCall {
  return {
    model: MODEL,
    inputs: [{ name: "x", datatype: "FP32", shape: [1, 1], data: new Float32Array([value]) }],
    outputNames: ["y"],
    requestId: `r${nextId++}`,
    tenant,
    priority: 2,
    deadline: Date.now() + 5_000,
    maxQueueWaitMs: 5_000,
    ...opts,
  };
}

function vadCall(inputRows: number, stateRows: number): HostInferCall {
  const fp32 = (name: string, shape: number[]): Tensor => ({ name, datatype: "FP32", shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const sr: Tensor = { name: "sr", datatype: "INT64", shape: [], data: new BigInt64Array([16000n]) };
  return {
    ...call(0, "t", { model: VAD }),
    inputs: [fp32("input", [inputRows, 576]), fp32("state", [2, stateRows, 128]), sr],
    outputNames: ["output", "stateN"],
  };
}

function errorOf(tracked: Tracked<unknown>): HttpError {
  assert.equal(tracked.state, "rejected");
  assert.ok(tracked.error instanceof HttpError, String(tracked.error));
  return tracked.error;
}

const outputOf = (tracked: Tracked<ScheduledResult>): number[] => Array.from(tracked.value!.outputs[0]!.data as Float32Array);

describe("a failed batched run", () => {
  test("is run again request by request: the others get their answers, only the faulty request fails", async (t) => {
    const clock = new VirtualClock(t);
    const runs: number[][] = [];
    const scheduler = new Scheduler({ maxQueueLength: 16, run: poisonable(runs) });
    const good = [1, 2, 3].map((v) => clock.track(scheduler.submit(call(v, `tenant-${v}`, { priority: 1 }))));
    const bad = clock.track(scheduler.submit(call(-1, "mallory")));
    await clock.advanceUntil([...good, bad]);
    assert.deepEqual(runs[0], [1, 2, 3, -1], "the four requests were batched into one run first");
    assert.deepEqual(runs.slice(1), [[1], [2], [3], [-1]], "then each ran alone, in serving order");
    good.forEach((tracked, k) => {
      assert.equal(tracked.state, "fulfilled", `request ${k + 1}: ${String(tracked.error)}`);
      assert.deepEqual(outputOf(tracked), [2 * (k + 1)]);
      assert.equal(tracked.value!.timing.batchSize, 1);
    });
    const error = errorOf(bad);
    assert.equal(error.status, 400);
    assert.match(error.message, /negative values/);
    assert.equal(scheduler.counters.retriedAlone, 4);
    assert.equal(scheduler.counters.completed, 3);
  });

  test("the tenant whose request broke a batch runs alone for a while: its next bad request fails only itself", async (t) => {
    const clock = new VirtualClock(t);
    const runs: number[][] = [];
    const scheduler = new Scheduler({ maxQueueLength: 16, run: poisonable(runs) });
    const first = [clock.track(scheduler.submit(call(1, "alice"))), clock.track(scheduler.submit(call(-1, "mallory")))];
    await clock.advanceUntil(first);
    assert.equal(scheduler.counters.retriedAlone, 2);
    runs.length = 0;
    const again = [2, 3].map((v) => clock.track(scheduler.submit(call(v, `tenant-${v}`))));
    const bad = clock.track(scheduler.submit(call(-2, "mallory")));
    await clock.advanceUntil([...again, bad]);
    assert.deepEqual(runs, [[2, 3], [-2]], "the others were batched without it, and nothing ran twice");
    for (const tracked of again) assert.equal(tracked.state, "fulfilled");
    assert.equal(errorOf(bad).status, 400);
    assert.equal(scheduler.counters.retriedAlone, 2);
  });

  test("a request whose deadline passes before its turn to run alone is answered 504, without a run", async (t) => {
    const clock = new VirtualClock(t);
    const runs: number[][] = [];
    const scheduler = new Scheduler({ maxQueueLength: 16, run: poisonable(runs) });
    const start = clock.now();
    const bad = clock.track(scheduler.submit(call(-1, "mallory", { priority: 1 })));
    const expiring = clock.track(scheduler.submit(call(5, "alice", { deadline: Date.now() + 35 })));
    const patient = clock.track(scheduler.submit(call(6, "bob")));
    await clock.advanceUntil([bad, expiring, patient]);
    // Held 20 ms to fill the batch, which fails at 30; the bad request runs alone until 40, past
    // the 35 ms deadline of the next in line, which is answered at once; the last still runs.
    assert.deepEqual(runs, [[-1, 5, 6], [-1], [6]]);
    assert.equal(errorOf(bad).status, 400);
    assert.equal(errorOf(expiring).status, 504);
    assert.equal(expiring.at! - start, 40, "answered when its turn came");
    assert.deepEqual(outputOf(patient), [12]);
  });

  test("a failure that says to retry later (no session) answers the whole batch, without a run per request", async (t) => {
    const clock = new VirtualClock(t);
    let runs = 0;
    const unavailable: RunModel = async () => {
      runs++;
      await sleep(10);
      throw new HttpError(503, "model bytes are missing from storage", 5);
    };
    const scheduler = new Scheduler({ maxQueueLength: 16, run: unavailable });
    const sent = [1, 2, 3].map((v) => clock.track(scheduler.submit(call(v, "t"))));
    await clock.advanceUntil(sent);
    assert.equal(runs, 1);
    for (const tracked of sent) assert.equal(errorOf(tracked).status, 503);
    assert.equal(scheduler.counters.retriedAlone, 0);
  });
});

describe("batch sizes are checked before a request is queued", () => {
  test("batched inputs that disagree on the batch size (Silero's input [1,576] with state [2,5,128]) are refused 400", async (t) => {
    const clock = new VirtualClock(t);
    let runs = 0;
    const scheduler = new Scheduler({ maxQueueLength: 16, run: async () => (runs++, { outputs: [], loadMs: 0, inferMs: 0 }) });
    const refused = clock.track(scheduler.submit(vadCall(1, 5)));
    await clock.flush();
    const error = errorOf(refused);
    assert.equal(error.status, 400);
    assert.match(
      error.message,
      /inputs disagree on the batch size: input 'input' \(axis 0 of shape \[1,576\]\) has 1, input 'state' \(axis 1 of shape \[2,5,128\]\) has 5/,
    );
    assert.equal(scheduler.counters.admitted, 0, "never queued");
    assert.equal(runs, 0);
  });

  test("a batch size over max_batch is refused 400", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 16, run: async () => ({ outputs: [], loadMs: 0, inferMs: 0 }) });
    const refused = clock.track(scheduler.submit(vadCall(17, 17)));
    await clock.flush();
    assert.equal(errorOf(refused).status, 400);
    assert.match(errorOf(refused).message, /batch size 17 of input 'input' .* exceeds the model's max_batch 16/);
    assert.equal(scheduler.counters.admitted, 0);
  });

  test("checkInputs, given the batch axes, refuses the same request (the origin's route checks with them)", () => {
    const specs: TensorSpec[] = [
      { name: "input", datatype: "FP32", shape: [-1, -1] },
      { name: "state", datatype: "FP32", shape: [2, -1, 128] },
      { name: "sr", datatype: "INT64", shape: [] },
    ];
    const { inputs } = vadCall(1, 5);
    checkInputs(inputs, specs, { maxBatch: 16 }); // without the axes nothing says state's axis 1 is the batch
    assert.throws(
      () => checkInputs(inputs, specs, { maxBatch: 16, batchAxes: VAD_AXES }),
      (e: unknown) => e instanceof HttpError && e.status === 400 && /disagree on the batch size/.test(e.message),
    );
    checkInputs(vadCall(3, 3).inputs, specs, { maxBatch: 16, batchAxes: VAD_AXES });
  });
});

describe("batch keys", () => {
  const words = (name: string, values: string[]): Tensor => ({ name, datatype: "BYTES", shape: [values.length], data: values });
  const keyOf = (shared: Tensor) => batchKey([{ name: "x", datatype: "FP32", shape: [1, 1], data: new Float32Array(1) }, shared], AXES_WITH_SHARED, ["y"]);
  const AXES_WITH_SHARED: BatchAxes = { inputs: { x: 0, lang: null }, outputs: { y: 0 } };

  test("BYTES values that contain the separators do not collide", () => {
    assert.notEqual(keyOf(words("lang", ["a,b", "c"])), keyOf(words("lang", ["a", "b,c"])));
    assert.notEqual(keyOf(words("lang", ["a|b", "c"])), keyOf(words("lang", ["a", "b|c"])));
    assert.notEqual(keyOf(words("lang", ["x=1:y", "z"])), keyOf(words("lang", ["x", "1:y,z"])));
  });

  test("equal requests still share a key, and different output lists do not", () => {
    assert.equal(keyOf(words("lang", ["a,b", "c"])), keyOf(words("lang", ["a,b", "c"])));
    const x: Tensor = { name: "x", datatype: "FP32", shape: [1, 1], data: new Float32Array(1) };
    assert.notEqual(batchKey([x], AXES, ["a,b"]), batchKey([x], AXES, ["a", "b"]));
  });
  test("models whose name and version join to the same text never share a run", async (t) => {
    const clock = new VirtualClock(t);
    const runs: string[][] = [];
    const scheduler = new Scheduler({
      maxQueueLength: 16,
      run: async (model, inputs) => {
        runs.push([`${model.name} v${model.version}`, String(inputs[0]!.shape[0])]);
        await sleep(10);
        return { outputs: [{ ...inputs[0]!, name: "y" }], loadMs: 0, inferMs: 10 };
      },
    });
    const one = clock.track(scheduler.submit(call(1, "t", { model: { ...MODEL, name: "a@b", version: "c" } })));
    const other = clock.track(scheduler.submit(call(2, "t", { model: { ...MODEL, name: "a", version: "b@c" } })));
    await clock.advanceUntil([one, other]);
    assert.deepEqual(runs, [
      ["a@b vc", "1"],
      ["a vb@c", "1"],
    ]);
  });
});
