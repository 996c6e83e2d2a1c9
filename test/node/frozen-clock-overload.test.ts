/**
 * @module Overload under the deployed runtime's clock. In a deployed Durable Object the clock
 * stands still during synchronous work (frozen-clock.ts), and onnxruntime-web's run is such work.
 * The Scheduler, with a model whose runs take tens of milliseconds of synchronous work timed as
 * the ModelHost times them (timeRun), is driven at three times its capacity by premium, standard
 * and free requests with their tiers' deadlines: once under Node's real clock, once under the
 * frozen one. Overload must look the same under both: premium served within its deadline at the
 * same rate, free shed with Retry-After, the predicted run time within 25% of the real one,
 * nothing answered past its deadline (plus a margin) and nothing left hanging. Outcomes are
 * judged by the monotonic clock (process.hrtime), which the freeze leaves alone.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { TIERS, type Tier } from "../../config/tiers.ts";
import type { HostModel } from "../../durable-objects/model-host/contract.ts";
import { HttpError } from "../../protocol/errors.ts";
import { timeRun } from "../../scheduler/run-timer.ts";
import { Scheduler, type RunModel } from "../../scheduler/scheduler.ts";
import { freezeClock } from "./frozen-clock.ts";

/** Synchronous work per run, as a mid-sized model's session.run takes at the edge. */
const RUN_MS = 25;
/** Runs per second one host can do: what the offered load is a multiple of. */
const CAPACITY_PER_S = 1000 / RUN_MS;
/** Arrivals per second by tier, as shares of capacity: 3x in all, premium alone half of it. */
const LOAD_SHARE: Record<Tier, number> = { premium: 0.5, standard: 1, free: 1.5 };
const ARRIVALS_MS = 1_200;
/** How often the driver wakes to submit the arrivals that fell due (a DO's input queue, drained between runs). */
const ARRIVAL_TICK_MS = 5;
/** A request answered later than its deadline by more than this counts as hung (timers fire late behind a run). */
const LATE_MARGIN_MS = 250;
const GUARD_MS = 15_000;
const MODEL: HostModel = { name: "sync-mlp", version: "1", r2Key: "k", sha256: "s", bytes: 1, maxBatch: 1, maxQueueDelayMs: 0, batchAxes: undefined };

const realMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Burns real CPU for `ms`, as onnxruntime-web's wasm does; returns the ms burnt. */
function busyWait(ms: number): number {
  const start = realMs();
  while (realMs() - start < ms);
  return realMs() - start;
}

interface Outcome {
  tier: Tier;
  status: number;
  retryAfterSeconds: number | undefined;
  /** Real milliseconds from submission to the answer. */
  tookMs: number;
}

interface Run {
  outcomes: Outcome[];
  /** What the scheduler predicts one run takes, and what its runs really took (weighted as its mean weighs them). */
  predictedMs: number;
  trueMs: number;
}

/** Weight of the newest run in the predictor's mean (service-time.ts): the truth is averaged the same way. */
const PREDICTOR_ALPHA = 0.2;

/** Arrival times (real ms from the start) of each tier at its share of capacity, interleaved. */
function arrivals(): { atMs: number; tier: Tier }[] {
  const schedule: { atMs: number; tier: Tier }[] = [];
  for (const tier of Object.keys(LOAD_SHARE) as Tier[]) {
    const everyMs = 1000 / (LOAD_SHARE[tier] * CAPACITY_PER_S);
    for (let at = everyMs / 2; at < ARRIVALS_MS; at += everyMs) schedule.push({ atMs: at, tier });
  }
  return schedule.sort((a, b) => a.atMs - b.atMs);
}

/** Drives a fresh Scheduler (made after any clock change, so it reads that clock) through the overload. */
async function overload(): Promise<Run> {
  let trueMs: number | undefined;
  // Like the ModelHost: the work is synchronous inside an async run, timed with timeRun. The truth
  // is the real time between timeRun's two clock readings (the run and the timer turns around
  // it, which a busy machine stretches): what its measurement should read under either clock.
  const run: RunModel = async (_model, inputs) => {
    const readings: number[] = [];
    const { ms } = await timeRun(
      async () => busyWait(RUN_MS),
      () => (readings.push(realMs()), Date.now()),
    );
    const realSpan = readings[1]! - readings[0]!;
    trueMs = trueMs === undefined ? realSpan : trueMs + PREDICTOR_ALPHA * (realSpan - trueMs);
    return { outputs: inputs, loadMs: 0, inferMs: ms };
  };
  const scheduler = new Scheduler({ maxQueueLength: 128, run, reportPriorities: [1, 2, 3] });
  const answers: Promise<Outcome>[] = [];
  const submit = (tier: Tier, k: number) => {
    const config = TIERS[tier];
    const submittedAt = realMs();
    const settled = (status: number, retryAfterSeconds?: number): Outcome => ({ tier, status, retryAfterSeconds, tookMs: realMs() - submittedAt });
    const call = {
      model: MODEL,
      inputs: [{ name: "x", datatype: "FP32" as const, shape: [1, 4], data: new Float32Array(4) }],
      outputNames: ["x"],
      requestId: `${tier}-${k}`,
      tenant: `${tier}-${k % 2}`,
      priority: config.priority,
      deadline: Date.now() + config.defaultDeadlineMs,
      maxQueueWaitMs: config.maxQueueWaitMs,
    };
    answers.push(
      scheduler.submit(call).then(
        () => settled(200),
        (error: unknown) => (error instanceof HttpError ? settled(error.status, error.retryAfterSeconds) : settled(-1)),
      ),
    );
  };

  const schedule = arrivals();
  const startedAt = realMs();
  let next = 0;
  while (next < schedule.length) {
    await new Promise((resolve) => setTimeout(resolve, ARRIVAL_TICK_MS));
    const elapsed = realMs() - startedAt;
    for (; next < schedule.length && schedule[next]!.atMs <= elapsed; next++) submit(schedule[next]!.tier, next);
  }
  let guard: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => (guard = setTimeout(() => reject(new Error(`requests still unanswered after ${GUARD_MS} ms`)), GUARD_MS)));
  try {
    const outcomes = await Promise.race([Promise.all(answers), hung]);
    const predictedMs = scheduler.serviceTimes()[`${MODEL.name}@${MODEL.version}`]?.[0]?.meanMs ?? 0;
    return { outcomes, predictedMs, trueMs: trueMs ?? 0 };
  } finally {
    clearTimeout(guard);
  }
}

const of = (run: Run, tier: Tier) => run.outcomes.filter((o) => o.tier === tier);
const share = (outcomes: Outcome[], which: (o: Outcome) => boolean) => outcomes.filter(which).length / outcomes.length;
/** Premium answered 200 within its deadline, as a share of premium requests. */
const premiumServed = (run: Run) => share(of(run, "premium"), (o) => o.status === 200 && o.tookMs <= TIERS.premium.defaultDeadlineMs);
const freeServed = (run: Run) => share(of(run, "free"), (o) => o.status === 200);

/** What overload must look like under either clock. */
function checkOverload(run: Run, clock: string): void {
  const summary = `${clock}: ${JSON.stringify({ premium: premiumServed(run), free: freeServed(run), predictedMs: run.predictedMs, trueMs: run.trueMs })}`;
  assert.ok(premiumServed(run) >= 0.9, `premium served within its deadline; ${summary}`);
  assert.ok(freeServed(run) <= 0.25, `free mostly shed; ${summary}`);
  const free = of(run, "free");
  assert.ok(share(free, (o) => o.status === 503) >= 0.75, `free refused with 503, not admitted to time out; ${summary}`);
  for (const refusal of run.outcomes.filter((o) => o.status === 503)) assert.ok((refusal.retryAfterSeconds ?? 0) >= 1, `a 503 without Retry-After; ${summary}`);
  assert.ok(
    run.outcomes.every((o) => [200, 503, 504].includes(o.status)),
    `only answers, refusals and deadlines: ${[...new Set(run.outcomes.map((o) => o.status))]}`,
  );
  assert.ok(share(run.outcomes, (o) => o.status === 504) <= 0.15, `refused early rather than at the deadline; ${summary}`);
  for (const outcome of run.outcomes) {
    const deadlineMs = TIERS[outcome.tier].defaultDeadlineMs;
    assert.ok(outcome.tookMs <= deadlineMs + LATE_MARGIN_MS, `${outcome.tier} answered ${outcome.status} after ${Math.round(outcome.tookMs)} ms; ${summary}`);
  }
  assert.ok(run.trueMs >= RUN_MS, `the runs did their work; ${summary}`);
  assert.ok(Math.abs(run.predictedMs - run.trueMs) <= 0.25 * run.trueMs, `predicted run within 25% of the real one; ${summary}`);
}

test("overload at 3x capacity behaves the same under the real clock and the deployed runtime's frozen clock", async (t: TestContext) => {
  const real = await overload();
  checkOverload(real, "real clock");
  freezeClock(t);
  const frozen = await overload();
  checkOverload(frozen, "frozen clock");
  assert.ok(Math.abs(premiumServed(real) - premiumServed(frozen)) <= 0.1, `premium served: ${premiumServed(real)} real, ${premiumServed(frozen)} frozen`);
  assert.ok(Math.abs(freeServed(real) - freeServed(frozen)) <= 0.15, `free served: ${freeServed(real)} real, ${freeServed(frozen)} frozen`);
});
