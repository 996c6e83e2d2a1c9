/**
 * @module The scheduler of a ModelHost (and of each origin server): admission, the queue, deadline
 * timers, dynamic batching.
 *
 * - Admission says no at once (503 with Retry-After) when the work predicted ahead of a request
 *   would take it past its deadline or its tier's longest queue wait, or when the queue is full
 *   and nothing less important can be shed to make room.
 * - A queued request whose deadline passes is answered 504 by its own timer at that moment,
 *   not when the model frees up.
 * - One run at a time (a Durable Object has one thread). When the model can batch, the next
 *   request takes compatible queued requests along, up to max_batch rows, and may wait up to
 *   max_queue_delay for more, but never so long that the batch would miss a deadline.
 * - One bad request never fails a batch: a call whose batched inputs disagree on the batch size
 *   is refused (400) before it is queued, and when a merged run fails anyway each of its requests
 *   runs again alone, so only the faulty one gets the error.
 * - Predicted waits count the runs ahead and the gap between two runs while work waits (taking
 *   in arrivals; under `wrangler dev` also the router's work, which shares the thread), so a
 *   host that spends time around its runs does not admit work it cannot finish in time.
 * - Under the tiered policy a request also waits for more important work that arrives while it
 *   waits: its predicted wait is the work ahead stretched by the share of the thread those
 *   priorities have used lately (busy-share.ts), so standard work that premium would push past
 *   its deadline is refused at once, not answered 504 at the end of its wait.
 * - load() reports the wait ahead of each of `reportPriorities`, so a router can refuse a tier
 *   before it sends the request at all.
 */
import { mergeInputs, splitOutputs } from "../protocol/batching.ts";
import { HttpError, retryAfterSecondsFor } from "../protocol/errors.ts";
import type { Tensor } from "../protocol/oip/tensor.ts";
import type { RunOutcome, ScheduledCall, ScheduledModel, ScheduledResult, SchedulerCounters, SchedulerLoad } from "./contract.ts";
import type { Schedulable, SchedulingQueue } from "./queue.ts";
import { batchKeyOf, rowsOf, workOf } from "./batch-fit.ts";
import { BusyShare } from "./busy-share.ts";
import { ServiceTimePredictor, type ServiceTimeSnapshot } from "./service-time.ts";
import { TieredFairQueue } from "./tiered-fair-queue.ts";

/**
 * Kept between the latest start of a held batch and the deadline it must meet, because timers
 * fire late: later the longer they are (workerd fired a 1 s hold 5-9 ms late) and the busier the
 * thread (tens of ms on a loaded machine). A hold that fires past the deadline is a 504 for a
 * request that could have run, so a hold never uses the last tenth of the time a request has left.
 */
const HOLD_MARGIN_MS = 5;
const HOLD_MARGIN_SHARE = 0.1;
/** Weight of the newest gap between runs in its running mean. */
const GAP_ALPHA = 0.2;

/** Runs merged inputs on the model's session; reports how long the load and the run took. */
export type RunModel = (model: ScheduledModel, inputs: Tensor[], outputNames: string[]) => Promise<RunOutcome>;

interface Job extends Schedulable {
  call: ScheduledCall;
  /** Jobs with equal keys can share a run; undefined: runs alone. */
  key: string | undefined;
  rows: number;
  /** Input elements: what the run time is predicted from. */
  work: number;
  enqueuedAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve: (value: ScheduledResult) => void;
  reject: (error: HttpError) => void;
}

/**
 * `tiered`: priorities, fair share and EDF (the platform). `fifo`: one first-come-first-served
 * queue with the same admission and deadlines: the baseline the benchmark compares against.
 */
export type SchedulingPolicy = "tiered" | "fifo";

export interface SchedulerOptions {
  maxQueueLength: number;
  policy?: SchedulingPolicy;
  run: RunModel;
  /** Priorities whose wait ahead load() reports (the tiers' priorities). */
  reportPriorities?: readonly number[];
  /** Time constant of the thread share each priority used lately (BusyShare); default 2 s. */
  busyWindowMs?: number;
  now?: () => number;
}

export class Scheduler {
  readonly #queue: SchedulingQueue<Job> = new TieredFairQueue<Job>();
  readonly #byRequest = new Map<string, Job>();
  readonly #predictors = new Map<string, ServiceTimePredictor>();
  /** Thread time used lately by each priority (tiered policy: stretches the waits of less important work). */
  readonly #busy: BusyShare;
  readonly #options: SchedulerOptions;
  readonly #now: () => number;
  #running: { model: ScheduledModel; rows: number; work: number; startedAt: number } | undefined;
  #batchTimer: ReturnType<typeof setTimeout> | undefined;
  /** Between two runs: let calls that arrived during a run reach the queue before choosing. */
  #yielding = false;
  /** When the last run ended, until the next starts with work waiting (then: one gap measured). */
  #gapFrom: number | undefined;
  /** Running mean of the time between runs while work waited. */
  #gapMs = 0;
  readonly counters: SchedulerCounters = {
    admitted: 0,
    completed: 0,
    rejectedDeadline: 0,
    rejectedFull: 0,
    shed: 0,
    expired: 0,
    cancelled: 0,
    batches: 0,
    batchedRequests: 0,
    retriedAlone: 0,
  };

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#busy = new BusyShare(options.busyWindowMs);
  }

  submit(call: ScheduledCall): Promise<ScheduledResult> {
    const now = this.#now();
    const { model } = call;
    const rows = rowsOf(call);
    if (rows instanceof HttpError) return Promise.reject(rows); // it would make a merged run fail: refused before it is queued
    if (call.deadline <= now) {
      this.counters.rejectedDeadline++;
      return Promise.reject(new HttpError(504, "the request's deadline passed before it reached the model"));
    }
    const work = workOf(call.inputs);
    const waitMs = this.#waitAheadMs(call.priority);
    const runMs = this.#predictor(model).upper(work);
    if (waitMs > call.maxQueueWaitMs || now + waitMs + runMs > call.deadline) {
      this.counters.rejectedDeadline++;
      return Promise.reject(
        new HttpError(
          503,
          `cannot finish before the deadline: about ${Math.round(waitMs)} ms of work is queued ahead (predicted run ${runMs.toFixed(1)} ms)`,
          retryAfterSecondsFor(waitMs),
        ),
      );
    }
    if (this.#queue.size >= this.#options.maxQueueLength && !this.#shedFor(call.priority)) {
      this.counters.rejectedFull++;
      return Promise.reject(new HttpError(503, `the model's queue is full (${this.#queue.size} waiting)`, retryAfterSecondsFor(waitMs)));
    }
    return new Promise<ScheduledResult>((resolve, reject) => {
      const job: Job = {
        call,
        rows,
        work,
        resolve,
        reject,
        enqueuedAt: now,
        timer: undefined,
        ...(this.#options.policy === "fifo"
          ? { priority: 0, deadline: now, tenant: "fifo" } // one lane, in arrival order
          : { priority: call.priority, deadline: call.deadline, tenant: call.tenant }),
        cost: runMs,
        key: batchKeyOf(call),
      };
      job.timer = setTimeout(() => this.#expire(job), call.deadline - now);
      this.#queue.push(job);
      this.#byRequest.set(call.requestId, job);
      this.counters.admitted++;
      this.#kick();
    });
  }

  /** Drops queued work whose client went away; false when it is not queued (done or running). */
  cancel(requestId: string): boolean {
    const job = this.#byRequest.get(requestId);
    if (!job || !this.#take(job)) return false;
    this.counters.cancelled++;
    job.reject(new HttpError(499, "the client cancelled the request"));
    this.#kick();
    return true;
  }

  load(): SchedulerLoad {
    const priorities = this.#options.reportPriorities ?? [];
    return {
      queued: this.#queue.size,
      running: this.#running?.rows ?? 0,
      backlogMs: this.#predictedWaitMs(Number.POSITIVE_INFINITY),
      waitAheadMs: Object.fromEntries(priorities.map((p) => [p, this.#waitAheadMs(p)])),
      gapMs: this.#gapMs,
    };
  }

  /** Teaches the predictor a run made outside the queue (a warm-up), without counting it as served. */
  observe(model: ScheduledModel, inputs: readonly Tensor[], inferMs: number): void {
    this.#predictor(model).observe(workOf(inputs), inferMs);
  }

  serviceTimes(): Record<string, ServiceTimeSnapshot[]> {
    return Object.fromEntries([...this.#predictors].map(([version, predictor]) => [version, predictor.snapshot()]));
  }

  #predictor(model: ScheduledModel): ServiceTimePredictor {
    const key = `${model.name}@${model.version}`;
    let predictor = this.#predictors.get(key);
    if (!predictor) this.#predictors.set(key, (predictor = new ServiceTimePredictor()));
    return predictor;
  }

  /**
   * Wait of a new request of `priority` under this policy. FIFO: everything queued. Tiered: the
   * work that would go first, stretched by the more important work expected to arrive meanwhile.
   */
  #waitAheadMs(priority: number): number {
    if (this.#options.policy === "fifo") return this.#predictedWaitMs(Number.POSITIVE_INFINITY);
    return this.#predictedWaitMs(priority) * this.#busy.stretch(priority, this.#now());
  }

  /**
   * Work ahead of a new request of this priority: the rest of the current run plus the queued
   * jobs that would go first, grouped into runs of up to max_batch rows when the model batches,
   * and the gap after each of those runs.
   */
  #predictedWaitMs(priority: number): number {
    const running = this.#running;
    let waitMs = running ? Math.max(0, this.#predictor(running.model).mean(running.work) - (this.#now() - running.startedAt)) + this.#gapMs : 0;
    let run = { rows: 0, work: 0 };
    let runModel: ScheduledModel | undefined;
    // Jobs share a run when their batch keys match (same model version, shapes and outputs).
    // Not by model object: every call brings its own copy of the record.
    let runKey: string | undefined;
    const flush = () => {
      if (runModel && run.rows > 0) waitMs += this.#predictor(runModel).mean(run.work) + this.#gapMs;
      run = { rows: 0, work: 0 };
      runKey = undefined;
    };
    for (const job of this.#queue.itemsAhead(priority)) {
      const jobModel = job.call.model;
      const batches = job.key !== undefined;
      if (!batches || job.key !== runKey || run.rows + job.rows > jobModel.maxBatch) flush();
      runModel = jobModel;
      runKey = job.key;
      run.rows += job.rows;
      run.work += job.work;
      if (!batches) flush();
    }
    flush();
    return waitMs;
  }

  /** Makes room by refusing the least important queued request, if it is less important than `priority`. */
  #shedFor(priority: number): boolean {
    const victim = this.#queue.sheddable();
    if (!victim || victim.priority <= priority || this.#options.policy === "fifo") return false;
    this.#take(victim);
    this.counters.shed++;
    victim.reject(new HttpError(503, "shed to make room for higher-priority work", 1));
    return true;
  }

  #expire(job: Job, kick = true): void {
    if (!this.#take(job)) return;
    this.counters.expired++;
    job.reject(new HttpError(504, `the deadline passed after ${this.#now() - job.enqueuedAt} ms in the queue`));
    if (kick) this.#kick();
  }

  /** Removes a job from the queue and its timer; false if it was not queued. */
  #take(job: Job): boolean {
    if (!this.#queue.remove(job)) return false;
    clearTimeout(job.timer);
    this.#byRequest.delete(job.call.requestId);
    return true;
  }

  #kick(): void {
    if (this.#running || this.#yielding) return;
    let head = this.#queue.peek();
    // A run that blocked the thread past some deadlines delays their timers: answer them now
    // rather than start work nobody can use.
    while (head && head.call.deadline <= this.#now()) {
      this.#expire(head, false);
      head = this.#queue.peek();
    }
    if (!head) {
      this.#gapFrom = undefined; // idle: the time until the next arrival is no gap
      return;
    }
    const batch = this.#gather(head);
    const model = head.call.model;
    const rows = batch.reduce((sum, job) => sum + job.rows, 0);
    const work = batch.reduce((sum, job) => sum + job.work, 0);
    const now = this.#now();
    const waitUntil = head.enqueuedAt + model.maxQueueDelayMs;
    // Waiting may grow the batch to max_batch rows; its run must still end before every deadline.
    const fullWork = (work / rows) * model.maxBatch;
    const deadline = Math.min(...batch.map((job) => job.call.deadline));
    const margin = HOLD_MARGIN_MS + HOLD_MARGIN_SHARE * Math.max(0, deadline - now);
    const latestStart = deadline - this.#predictor(model).upper(fullWork) - this.#gapMs - margin;
    if (head.key !== undefined && rows < model.maxBatch && now < Math.min(waitUntil, latestStart)) {
      // Hold the head a little to fill the batch; a new arrival kicks again and may fill it sooner.
      this.#gapFrom = undefined; // a chosen wait, not time lost between runs
      clearTimeout(this.#batchTimer);
      this.#batchTimer = setTimeout(() => this.#kick(), Math.min(waitUntil, latestStart) - now);
      return;
    }
    clearTimeout(this.#batchTimer);
    if (this.#gapFrom !== undefined) this.#gapMs += GAP_ALPHA * (now - this.#gapFrom - this.#gapMs);
    this.#gapFrom = undefined;
    for (const job of batch) this.#take(job);
    void this.#run(batch, rows, work);
  }

  /** The head plus queued jobs that can share its run, in serving order, within max_batch rows. */
  #gather(head: Job): Job[] {
    if (head.key === undefined) return [head];
    const batch = [head];
    let rows = head.rows;
    for (const job of this.#queue.inOrder()) {
      if (job === head || job.key !== head.key || rows + job.rows > head.call.model.maxBatch) continue;
      batch.push(job);
      rows += job.rows;
    }
    return batch;
  }

  async #run(batch: Job[], rows: number, work: number): Promise<void> {
    try {
      await this.#attempt(batch, rows, work);
    } catch (error) {
      const httpError = runError(error);
      // One request's bad inputs fail a merged run as a whole, and every tenant in it: each runs
      // alone then, so only the faulty one gets the error. A failure that says to retry later (no
      // session) is no request's fault and would fail each run alike: it answers the whole batch.
      if (batch.length > 1 && httpError.retryAfterSeconds === undefined) {
        this.counters.retriedAlone += batch.length;
        for (const job of batch) await this.#retryAlone(job);
      } else {
        for (const job of batch) job.reject(httpError);
      }
    } finally {
      this.#running = undefined;
      // session.run holds the thread, so requests that arrived during the run still wait in the
      // runtime's input queue, not in ours. Choosing the next run now would see none of them and
      // serve by arrival order; one turn of the event loop lets them in first, so priorities,
      // deadlines, fair share, shedding and batching apply to them.
      this.#yielding = true;
      this.#gapFrom = this.#now();
      setTimeout(() => {
        this.#yielding = false;
        this.#kick();
      }, 0);
    }
  }

  /** One run of a request whose batch failed, if its deadline still allows one. */
  async #retryAlone(job: Job): Promise<void> {
    if (job.call.deadline <= this.#now()) {
      this.counters.expired++;
      job.reject(new HttpError(504, "the deadline passed before the request could run again alone, after its batch failed"));
      return;
    }
    try {
      await this.#attempt([job], job.rows, job.work);
    } catch (error) {
      job.reject(runError(error));
    }
  }

  /** Runs `batch` (merged when it holds more than one job) and answers each job; throws when the run fails. */
  async #attempt(batch: Job[], rows: number, work: number): Promise<void> {
    const first = batch[0]!;
    const model = first.call.model;
    const startedAt = this.#now();
    this.#running = { model, rows, work, startedAt };
    const axes = batch.length > 1 ? model.batchAxes : undefined;
    const each = batch.map((job) => job.call.inputs);
    const inputs = axes ? mergeInputs(each, axes) : first.call.inputs;
    const result = await this.#options.run(model, inputs, first.call.outputNames);
    this.#predictor(model).observe(work, result.inferMs, result.firstRun);
    // The run and the gap before the next one are thread time its requests' priorities used.
    const usedMs = result.inferMs + this.#gapMs;
    for (const job of batch) this.#busy.add(job.call.priority, (usedMs * job.work) / Math.max(1, work), this.#now());
    const sizes = batch.map((job) => job.rows);
    const parts = axes ? splitOutputs(result.outputs, axes, sizes) : [result.outputs];
    if (batch.length > 1) {
      this.counters.batches++;
      this.counters.batchedRequests += batch.length;
    }
    this.#running = undefined;
    const load = this.load();
    batch.forEach((job, k) => {
      this.counters.completed++;
      job.resolve({
        outputs: parts[k]!,
        timing: { loadMs: result.loadMs, queueMs: startedAt - job.enqueuedAt, inferMs: result.inferMs, batchSize: rows },
        load,
      });
    });
  }
}

/** A failed run's error as an HttpError; anything else is our fault (500), logged. */
function runError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  console.error("model run failed", error);
  return new HttpError(500, "inference failed inside the model host");
}
