/**
 * @module Jobs in the ModelHost scheduler: a loop of many runs on one session, submitted once.
 * Its cost is predicted before admission from its runs times one run's time (so a job that cannot
 * finish in time is refused at once), it is queued and ordered like a request but never merged
 * into a batch, a queued job counts in the wait others are told, and a running job stops at its
 * deadline or when its client goes away. Time is virtual (virtual-clock.ts), runs take a timer.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { HostInferCall, HostModel } from "../../durable-objects/model-host/contract.ts";
import type { BatchAxes } from "../../protocol/batching.ts";
import { HttpError } from "../../protocol/errors.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import type { ScheduledJob } from "../../scheduler/contract.ts";
import { RUNS_PER_YIELD } from "../../scheduler/job-guard.ts";
import { predictedWaitMs } from "../../scheduler/predicted-wait.ts";
import { Scheduler, type RunJob, type RunModel } from "../../scheduler/scheduler.ts";
import { ServiceTimePredictor } from "../../scheduler/service-time.ts";
import { VirtualClock } from "./virtual-clock.ts";

const AXES: BatchAxes = { inputs: { x: 0 }, outputs: { y: 0 } };
const MODEL: HostModel = { name: "step", version: "1", r2Key: "k", sha256: "s", bytes: 1, maxBatch: 8, maxQueueDelayMs: 0, batchAxes: AXES };
const RUN_MS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const frame = (value: number): Tensor[] => [{ name: "x", datatype: "FP32", shape: [1, 1], data: new Float32Array([value]) }];

/** A "session" that adds one to its input, RUN_MS per run; `rows` records each run's batch size. */
function session(rows: number[] = []): { run: RunModel; runJob: RunJob } {
  const once = async (inputs: Tensor[]) => {
    rows.push(inputs[0]!.shape[0]!);
    await sleep(RUN_MS);
    return [{ name: "y", datatype: "FP32" as const, shape: inputs[0]!.shape, data: (inputs[0]!.data as Float32Array).map((v) => v + 1) }];
  };
  return {
    run: async (_model, inputs) => ({ outputs: await once(inputs), loadMs: 0, inferMs: RUN_MS }),
    runJob: async (_model, loop) => {
      const startedAt = Date.now();
      await loop((inputs) => once(inputs));
      return { loadMs: 0, inferMs: Date.now() - startedAt };
    },
  };
}

let nextId = 0;
/** A job that carries a value through `runs` sequential runs, each fed the output of the one before (like a recurrent state). */
function counting(runs: number, opts: { deadlineInMs?: number; priority?: number } = {}): ScheduledJob<number> {
  return {
    model: MODEL,
    requestId: `j${nextId++}`,
    tenant: "t",
    priority: opts.priority ?? 2,
    deadline: Date.now() + (opts.deadlineInMs ?? 10_000),
    maxQueueWaitMs: 10_000,
    runs,
    workPerRun: 1,
    loop: async (run) => {
      let value = 0;
      for (let i = 0; i < runs; i++) value = ((await run(frame(value), ["y"]))[0]!.data as Float32Array)[0]!;
      return value;
    },
  };
}

function request(value: number): HostInferCall {
  return {
    model: MODEL,
    inputs: frame(value),
    outputNames: ["y"],
    requestId: `r${nextId++}`,
    tenant: "t",
    priority: 2,
    deadline: Date.now() + 10_000,
    maxQueueWaitMs: 10_000,
  };
}

function statusOf(error: unknown): number {
  assert.ok(error instanceof HttpError, String(error));
  return error.status;
}

describe("Scheduler jobs", () => {
  test("one submission runs the whole loop on the session, carrying each run's output to the next", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 16, ...session() });
    const done = clock.track(scheduler.submitJob(counting(100)));
    await clock.advanceUntil([done]);
    assert.equal(done.state, "fulfilled", String(done.error));
    assert.equal(done.value!.value, 100);
    assert.equal(done.value!.timing.runs, 100);
    assert.ok(done.value!.timing.inferMs >= 100 * RUN_MS);
    assert.deepEqual(
      { jobs: scheduler.counters.jobs, jobRuns: scheduler.counters.jobRuns, completed: scheduler.counters.completed },
      { jobs: 1, jobRuns: 100, completed: 1 },
    );
    // The predictor learned one run's time from the loop, not the loop's as one run.
    const learned = scheduler.serviceTimes()["step@1"]![0]!;
    assert.ok(Math.abs(learned.meanMs - RUN_MS) < 1, `learned ${learned.meanMs} ms per run`);
  });

  test("a job whose runs cannot finish before its deadline is refused at once (503), before it is queued", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 16, ...session() });
    await clock.advanceUntil([clock.track(scheduler.submitJob(counting(10)))]); // teaches: a run takes RUN_MS
    const refused = clock.track(scheduler.submitJob(counting(100, { deadlineInMs: 50 * RUN_MS })));
    await clock.flush(); // no time passes
    assert.equal(refused.state, "rejected");
    assert.equal(statusOf(refused.error), 503);
    assert.match((refused.error as HttpError).message, /100 runs, predicted \d+ ms/);
    const fits = clock.track(scheduler.submitJob(counting(40, { deadlineInMs: 50 * RUN_MS })));
    await clock.advanceUntil([fits]);
    assert.equal(fits.state, "fulfilled", String(fits.error));
  });

  test("on an idle host, a guess from a cold first run does not refuse: the job runs, and what it measures refuses the next one", async (t) => {
    const clock = new VirtualClock(t);
    const cold = session();
    // The session's first run pays onnxruntime's lazy setup: 25x a warm run, marked firstRun.
    let first = true;
    const run: RunModel = async (model, inputs, names) => {
      const result = await cold.run(model, inputs, names);
      if (!first) return result;
      first = false;
      return { ...result, inferMs: 25 * RUN_MS, firstRun: true };
    };
    const scheduler = new Scheduler({ maxQueueLength: 16, run, runJob: cold.runJob });
    await clock.advanceUntil([clock.track(scheduler.submit(request(0)))]);
    // 100 runs at the cold guess (100 ms each) would be 10 s; they take 100 x RUN_MS.
    const job = clock.track(scheduler.submitJob(counting(100, { deadlineInMs: 150 * RUN_MS })));
    await clock.advanceUntil([job]);
    assert.equal(job.state, "fulfilled", String(job.error));
    // Now measured warm: a job that cannot make its deadline is refused again.
    const late = clock.track(scheduler.submitJob(counting(100, { deadlineInMs: 50 * RUN_MS })));
    await clock.flush();
    assert.equal(statusOf(late.error), 503);
  });

  test("a queued job counts as its runs in the wait ahead of others", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 16, reportPriorities: [2], ...session() });
    await clock.advanceUntil([clock.track(scheduler.submitJob(counting(10)))]);
    const first = clock.track(scheduler.submitJob(counting(50)));
    const second = clock.track(scheduler.submitJob(counting(50)));
    await clock.flush();
    const waitMs = scheduler.load().waitAheadMs[2]!;
    // About 100 runs ahead (one running, one queued), less nothing yet done.
    assert.ok(waitMs > 90 * RUN_MS && waitMs < 110 * RUN_MS, `wait ahead ${waitMs} ms`);
    await clock.advanceUntil([first, second]);
  });

  test("a job never shares a run: requests queued beside it still batch among themselves", async (t) => {
    const clock = new VirtualClock(t);
    const rows: number[] = [];
    const scheduler = new Scheduler({ maxQueueLength: 16, ...session(rows) });
    const busy = clock.track(scheduler.submit(request(0)));
    const job = clock.track(scheduler.submitJob(counting(3)));
    const requests = [1, 2, 3].map((v) => clock.track(scheduler.submit(request(v))));
    await clock.advanceUntil([busy, job, ...requests]);
    assert.deepEqual(rows, [1, 1, 1, 1, 3]);
    assert.deepEqual(
      requests.map((r) => (r.value!.outputs[0]!.data as Float32Array)[0]),
      [2, 3, 4],
    );
  });

  test("a running job stops at its deadline (504), and the next work runs", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 16, ...session() });
    // Unknown run time (the prior, 2 ms): admitted, but each run takes RUN_MS, so it overruns.
    const submittedAt = clock.now();
    const late = clock.track(scheduler.submitJob(counting(120, { deadlineInMs: 300 })));
    const next = clock.track(scheduler.submit(request(7)));
    await clock.advanceUntil([late, next]);
    assert.equal(statusOf(late.error), 504);
    // Stopped at the first yield past the deadline: at most one stretch of runs late.
    assert.ok(late.at! - submittedAt >= 300 && late.at! - submittedAt <= 300 + 40 * RUN_MS, `answered after ${late.at! - submittedAt} ms`);
    assert.equal(scheduler.counters.jobs, 0, "an unfinished job is not counted as done");
    assert.equal(next.state, "fulfilled");
  });

  test("cancelling a running job stops it at its next yield (499)", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 16, ...session() });
    const job = counting(500);
    const running = clock.track(scheduler.submitJob(job));
    await clock.advance(50 * RUN_MS);
    assert.equal(scheduler.cancel(job.requestId), true);
    await clock.advanceUntil([running]);
    assert.equal(statusOf(running.error), 499);
    assert.ok(running.at! < 100 * RUN_MS + 1_700_000_000_000, "stopped well before its 500 runs");
  });

  test("a call chained on an answer waits for that run to end: the load it reports and the runs never overlap", async () => {
    let running = 0;
    let overlapped = false;
    const scheduler = new Scheduler({
      maxQueueLength: 8,
      run: async (_model, inputs) => {
        overlapped ||= ++running > 1;
        await sleep(RUN_MS);
        running--;
        return { outputs: inputs, loadMs: 0, inferMs: RUN_MS };
      },
      runJob: session().runJob,
    });
    const loads: number[] = [];
    await scheduler.submit(request(1)).then(async () => {
      const chained = scheduler.submitJob(counting(3));
      await sleep(RUN_MS / 2); // past the turn the finished run yields, within the job's first run
      loads.push(scheduler.load().running);
      await chained;
    });
    assert.equal(overlapped, false);
    assert.deepEqual(loads, [1], "the chained job shows as running while it runs");
  });

  test("a more important request queued while a job runs goes at the job's next yield, not after the job", async () => {
    const { run, runJob } = session();
    const scheduler = new Scheduler({ maxQueueLength: 8, run, runJob });
    const startedAt = Date.now();
    let jobDoneAt = 0;
    const job = scheduler.submitJob(counting(100, { priority: 3 })).then((answer) => ((jobDoneAt = Date.now()), answer));
    await sleep(5 * RUN_MS);
    let premiumAt = 0;
    const premium = await scheduler.submit({ ...request(7), priority: 1, deadline: Date.now() + 10_000 }).then((answer) => ((premiumAt = Date.now()), answer));
    assert.deepEqual(Array.from(premium.outputs[0]!.data as Float32Array), [8]);
    const { value, timing } = await job;
    assert.equal(value, 100, "the job's runs went on from where they were");
    assert.equal(timing.runs, 100);
    assert.ok(premiumAt < jobDoneAt, `premium answered at ${premiumAt - startedAt} ms, the job at ${jobDoneAt - startedAt} ms`);
    assert.ok(premiumAt - startedAt < 60 * RUN_MS, `premium waited ${premiumAt - startedAt} ms: at most about one yield's worth of runs`);
  });

  test("a more important job queued ahead does not keep more important requests from the running job's yields", async () => {
    const { run, runJob } = session();
    const scheduler = new Scheduler({ maxQueueLength: 8, run, runJob });
    let freeDoneAt = 0;
    const free = scheduler.submitJob(counting(100, { priority: 3 })).then(() => (freeDoneAt = Date.now()));
    await sleep(5 * RUN_MS);
    const premiumJob = scheduler.submitJob(counting(5, { priority: 1 }));
    let premiumAt = 0;
    await scheduler.submit({ ...request(1), priority: 1 }).then(() => (premiumAt = Date.now()));
    await Promise.all([free, premiumJob]);
    assert.ok(premiumAt < freeDoneAt, "the premium request ran at a yield of the free job, past the premium job queued ahead of it");
  });

  test("a job cancelled while more important requests run at its yield stops there", async () => {
    const { run, runJob } = session();
    const scheduler = new Scheduler({ maxQueueLength: 8, run, runJob });
    const call = counting(200, { priority: 3 });
    const job = scheduler.submitJob(call).then(
      () => 0,
      (error: unknown) => statusOf(error),
    );
    await sleep(5 * RUN_MS);
    const premium = scheduler.submit({ ...request(1), priority: 1 });
    assert.equal(scheduler.cancel(call.requestId), true);
    await premium;
    assert.equal(await job, 499);
  });

  test("a more important request is predicted to wait for a running job's next yield only; an equal or less important one, for the whole job", () => {
    const predictor = new ServiceTimePredictor();
    for (let k = 0; k < 3; k++) predictor.observe(1, RUN_MS);
    const job = { model: MODEL, work: 1, runs: 100, startedAt: 0, jobPriority: 3 };
    const wait = (priority: number) => predictedWaitMs([], job, 0, 0, () => predictor, priority);
    assert.equal(wait(1), RUNS_PER_YIELD * RUN_MS);
    assert.equal(wait(2), RUNS_PER_YIELD * RUN_MS);
    assert.equal(wait(3), 100 * RUN_MS);
    assert.equal(
      predictedWaitMs([], { ...job, jobPriority: undefined }, 0, 0, () => predictor, 1),
      100 * RUN_MS,
      "a request's run is never cut short",
    );
    assert.equal(
      predictedWaitMs([], job, 0, 0, () => predictor, 1, true),
      100 * RUN_MS,
      "a job does not run at another job's yields",
    );
  });

  test("a more important job that cannot wait for a running job's end is refused at once, not admitted on a yield's wait and answered 504", async (t) => {
    const clock = new VirtualClock(t);
    const scheduler = new Scheduler({ maxQueueLength: 16, ...session() });
    scheduler.observe(MODEL, frame(0), RUN_MS);
    const free = clock.track(scheduler.submitJob(counting(400, { priority: 3 })));
    await clock.advance(2 * RUN_MS);
    // The free job has about 1.6 s left; a yield comes every RUNS_PER_YIELD runs.
    const premiumJob = clock.track(scheduler.submitJob(counting(10, { priority: 1, deadlineInMs: 60 * RUN_MS })));
    const premiumRequest = clock.track(scheduler.submit({ ...request(1), priority: 1, deadline: Date.now() + 60 * RUN_MS }));
    await clock.flush();
    assert.equal(premiumJob.state, "rejected");
    assert.match((premiumJob.error as HttpError).message, /^cannot finish before the deadline/);
    assert.equal(premiumRequest.state, "pending", "a request goes at the next yield: admitted");
    await clock.advanceUntil([free, premiumRequest]);
    assert.equal(premiumRequest.state, "fulfilled");
  });
});
