/**
 * @module The scheduler of a ModelHost (and of each origin server): admission, the queue, deadline
 * timers, dynamic batching.
 *
 * - Admission says no at once (503 with Retry-After) when the work predicted ahead of a request
 *   would take it past its deadline or its tier's longest queue wait, or when the queue is full
 *   and nothing less important can be shed to make room.
 * - A queued request whose deadline passes is answered 504 at that moment (one timer for the
 *   earliest deadline, expiry-timer.ts), not when the model frees up.
 * - One run at a time (a Durable Object has one thread). When the model can batch, the next
 *   request takes compatible queued requests along, up to max_batch rows, and may wait up to
 *   max_queue_delay for more, but never so long that the batch would miss a deadline.
 * - One bad request never fails a batch: a call whose batched inputs disagree on the batch size
 *   is refused (400) before it is queued, and when a merged run fails anyway each of its requests
 *   runs again alone, so only the faulty one gets the error (failed-batch.ts).
 * - Predicted waits count the runs ahead and the gap between two runs while work waits (taking
 *   in arrivals; under `wrangler dev` also the router's work, which shares the thread), so a
 *   host that spends time around its runs does not admit work it cannot finish in time.
 * - Under the tiered policy a request also waits for more important work that arrives while it
 *   waits: its predicted wait is the work ahead stretched by the share of the thread those
 *   priorities have used lately (busy-share.ts), so standard work that premium would push past
 *   its deadline is refused at once, not answered 504 at the end of its wait.
 * - load() reports the wait ahead of each of `reportPriorities`: a router can refuse a tier early.
 * - A job (submitJob: a loop of runs on one session, e.g. a VAD over a clip) is admitted, queued
 *   and ordered like a request, its cost its runs times one run's time; it runs alone, and stops
 *   at its deadline or when cancelled (job-guard.ts). At each of its yields the more important
 *   requests queued meanwhile run first: a long job of a lower tier does not hold them back.
 */
import { mergeInputs, splitOutputs } from "../protocol/batching.ts";
import { HttpError, refusal, retryAfterSecondsFor } from "../protocol/errors.ts";
import type { Tensor } from "../protocol/oip/tensor.ts";
import { zeroCounters, type ScheduledCall, type ScheduledJob, type ScheduledJobResult } from "./contract.ts";
import type { ScheduledModel, ScheduledResult, SchedulerCounters, SchedulerLoad, SessionRun } from "./contract.ts";
import type { SchedulingQueue } from "./queue.ts";
import type { SchedulerOptions } from "./options.ts";
export type { RunJob, RunModel, SchedulerOptions, SchedulingPolicy } from "./options.ts";
import { batchKeyOf, rowsOf, workOf } from "./batch-fit.ts";
import { BatchQuarantine } from "./batch-quarantine.ts";
import { batchHoldUntil } from "./batch-hold.ts";
import { BusyShare } from "./busy-share.ts";
import { answerFailedBatch } from "./failed-batch.ts";
import { guardJobRuns } from "./job-guard.ts";
import { predictedWaitMs, type RunningWork } from "./predicted-wait.ts";
import { runError, type Queued } from "./queued.ts";
import { Predictors } from "./predictors.ts";
import type { ServiceTimeSnapshot } from "./service-time.ts";
import { shedRefusal, shedVictim } from "./shedding.ts";
import { TieredFairQueue } from "./tiered-fair-queue.ts";
import { ExpiryTimer } from "./expiry-timer.ts";

/** Weight of the newest gap between runs in its running mean. */
const GAP_ALPHA = 0.2;
/** A tenant no request names (tenant ids are registry names): the newcomer load() reports the wait of. */
const NEW_TENANT = "\u0000new tenant";

export class Scheduler {
  readonly #queue: SchedulingQueue<Queued> = new TieredFairQueue<Queued>();
  readonly #byRequest = new Map<string, Queued>();
  readonly #predictors = new Predictors();
  /** Thread time used lately by each priority (tiered policy: stretches the waits of less important work). */
  readonly #busy: BusyShare;
  readonly #options: SchedulerOptions;
  readonly #now: () => number;
  readonly #expiry: ExpiryTimer<Queued>;
  readonly #quarantine: BatchQuarantine;
  #running: Running | undefined;
  /** The job under way, also while more important requests run at one of its yields. */
  #job: Running | undefined;
  #batchTimer: ReturnType<typeof setTimeout> | undefined;
  #yielding = false; // between two runs: calls that arrived during a run reach the queue before the next is chosen
  /** When the last run ended, until the next starts with work waiting (then: one gap measured). */
  #gapFrom: number | undefined;
  /** Running mean of the time between runs while work waited. */
  #gapMs = 0;
  readonly counters: SchedulerCounters = zeroCounters();

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#busy = new BusyShare(options.busyWindowMs);
    this.#quarantine = new BatchQuarantine(this.#now);
    const expire = (expired: Queued[]) => void (expired.forEach((item) => this.#expire(item)), this.#kick());
    this.#expiry = new ExpiryTimer<Queued>(() => this.#queue.inOrder(), expire, this.#now);
  }

  submit(call: ScheduledCall): Promise<ScheduledResult> {
    const rows = rowsOf(call);
    if (rows instanceof HttpError) return Promise.reject(rows); // it would make a merged run fail: refused before it is queued
    return this.#admit(call, { rows, work: workOf(call.inputs), runs: 1, key: batchKeyOf(call), loop: undefined });
  }

  /** Admits and queues a job (contract.ts, ScheduledJob); it runs alone, its loop on the warm session. */
  async submitJob<T>(job: ScheduledJob<T>): Promise<ScheduledJobResult<T>> {
    if (!this.#options.runJob) throw new HttpError(503, "this host does not run jobs", 30);
    const { runs, workPerRun, loop, ...call } = job;
    if (!(Number.isSafeInteger(runs) && runs > 0 && workPerRun > 0)) throw new HttpError(400, `a job needs runs, got ${runs} x ${workPerRun}`);
    let value: T | undefined;
    const keepingValue = async (run: SessionRun) => void (value = await loop(run));
    const result = await this.#admit({ ...call, inputs: [], outputNames: [] }, { rows: 1, work: workPerRun, runs, key: undefined, loop: keepingValue });
    return { value: value as T, timing: result.timing, load: result.load };
  }

  /** Admission (503 when it cannot finish in time, or the queue is full), then the queue. */
  #admit(call: ScheduledCall, fit: Pick<Queued, "rows" | "work" | "runs" | "key" | "loop">): Promise<ScheduledResult> {
    const now = this.#now();
    if (call.deadline <= now) {
      this.counters.rejectedDeadline++;
      return Promise.reject(new HttpError(504, "the request's deadline passed before it reached the model"));
    }
    // Behind all of its own tenant's queued work (whatever the deadlines: admitting by EDF position
    // would let a short deadline in at the cost of its tenant's queued requests), and behind what
    // fair share serves first of the others'.
    const waitMs = this.#waitAheadMs(call.priority, call.tenant, fit.loop !== undefined);
    const runMs = this.#predictors.of(call.model).upper(fit.work, fit.runs);
    const trusted = waitMs > 0 || this.#predictors.of(call.model).measured(fit.work); // see ServiceTimePredictor.measured
    if (waitMs > call.maxQueueWaitMs || (trusted && now + waitMs + runMs > call.deadline)) {
      this.counters.rejectedDeadline++;
      const predicted = fit.runs > 1 ? `${fit.runs} runs, predicted ${Math.round(runMs)} ms` : `predicted run ${runMs.toFixed(1)} ms`;
      return Promise.reject(
        refusal(
          503,
          `cannot finish before the deadline: about ${Math.round(waitMs)} ms of work is queued ahead (${predicted})`,
          retryAfterSecondsFor(waitMs),
          "deadline",
        ),
      );
    }
    if (this.#queue.size >= this.#options.maxQueueLength && this.shedFor(call.priority, call.tenant) === undefined) {
      this.counters.rejectedFull++;
      return Promise.reject(refusal(503, `the model's queue is full (${this.#queue.size} waiting)`, retryAfterSecondsFor(waitMs), "queue_full"));
    }
    return new Promise<ScheduledResult>((resolve, reject) => {
      const item: Queued = {
        call,
        ...fit,
        resolve,
        reject,
        enqueuedAt: now,
        ...(this.#options.policy === "fifo"
          ? { priority: 0, deadline: now, tenant: "fifo" } // one lane, in arrival order
          : { priority: call.priority, deadline: call.deadline, tenant: call.tenant }),
        cost: runMs,
      };
      this.#queue.push(item);
      this.#expiry.watch(call.deadline);
      this.#byRequest.set(call.requestId, item);
      this.counters.admitted++;
      this.#kick();
    });
  }

  /** Drops queued work whose client went away, or stops a running job at its next yield; false when neither (done, or its run started). */
  cancel(requestId: string): boolean {
    const job = this.#job;
    if (job && job.item.call.requestId === requestId) return (job.cancelled = true);
    const item = this.#byRequest.get(requestId);
    if (!item || !this.#take(item)) return false;
    this.counters.cancelled++;
    item.reject(new HttpError(499, "the client cancelled the request"));
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
      newTenantWaitAheadMs: Object.fromEntries(priorities.map((p) => [p, this.#waitAheadMs(p, NEW_TENANT)])),
      gapMs: this.#gapMs,
    };
  }

  /** Teaches the predictor a run made outside the queue (a warm-up), without counting it as served. */
  observe(model: ScheduledModel, inputs: readonly Tensor[], inferMs: number): void {
    this.#predictors.of(model).observe(workOf(inputs), inferMs);
  }

  /** Learned run times by `<model>@<version>` (predictors.ts). */
  serviceTimes(): Record<string, ServiceTimeSnapshot[]> {
    return this.#predictors.snapshot();
  }

  /** Whether `requestId` waits in the queue (not running, not answered): only such work can be shed. */
  queued(requestId: string): boolean {
    return this.#byRequest.has(requestId);
  }

  /**
   * Wait of a new request (or job) of `priority`. FIFO: everything queued. Tiered: the work that would go
   * first, stretched by the more important work expected meanwhile; for a known `tenant` (last in
   * its lane), only what fair share puts ahead of it, not all of its tier's backlog.
   */
  #waitAheadMs(priority: number, tenant?: string, job = false): number {
    if (this.#options.policy === "fifo") return this.#predictedWaitMs(Number.POSITIVE_INFINITY);
    const ahead = tenant === undefined ? this.#queue.itemsAhead(priority) : this.#queue.itemsAheadOf(tenant, priority);
    return this.#predictedWaitMs(priority, ahead, job) * this.#busy.stretch(priority, this.#now());
  }

  /** Work ahead of a new request of this priority (predicted-wait.ts): `ahead`, else everything of its priority or more important. */
  #predictedWaitMs(priority: number, ahead = this.#queue.itemsAhead(priority), job = false): number {
    // A job paused for more important requests is still the work ahead of the rest.
    return predictedWaitMs(ahead, this.#job ?? this.#running, this.#now(), this.#gapMs, (model) => this.#predictors.of(model), priority, job);
  }

  /** Makes room for a newcomer by refusing a queued request (shedding.ts); the id of the one shed, undefined when none was. */
  shedFor(priority: number, tenant?: string, requestId?: string): string | undefined {
    const victim = this.#options.policy === "fifo" ? undefined : shedVictim(this.#queue, this.#byRequest, priority, tenant, requestId);
    if (!victim || !this.#take(victim)) return undefined;
    this.counters.shed++;
    victim.reject(shedRefusal(victim, priority, requestId !== undefined));
    return victim.call.requestId;
  }

  /** Answers a queued call whose deadline passed (the caller kicks the queue after). */
  #expire(item: Queued): void {
    if (!this.#take(item)) return;
    this.counters.expired++;
    item.reject(new HttpError(504, `the deadline passed after ${this.#now() - item.enqueuedAt} ms in the queue`));
  }

  /** Removes an item from the queue and its timer; false if it was not queued. One that leaves `toRun` is charged to its tenant's fair share. */
  #take(item: Queued, toRun = false): boolean {
    if (!(toRun ? this.#queue.serve(item) : this.#queue.remove(item))) return false;
    this.#byRequest.delete(item.call.requestId);
    return true;
  }

  #kick(): void {
    if (this.#running || this.#yielding) return;
    let head = this.#queue.peek();
    // A run that blocked the thread past some deadlines delays their timers: answer them now
    // rather than start work nobody can use.
    while (head && head.call.deadline <= this.#now()) {
      this.#expire(head);
      head = this.#queue.peek();
    }
    if (!head) {
      this.#gapFrom = undefined; // idle: the time until the next arrival is no gap
      return;
    }
    const batch = this.#gather(head);
    const now = this.#now();
    const size = { rows: sumOf(batch, "rows"), work: sumOf(batch, "work") };
    const canGrow = !this.#quarantine.holds(head.call.tenant);
    const holdUntil = canGrow ? batchHoldUntil(batch, size, now, (work) => this.#predictors.of(head.call.model).upper(work), this.#gapMs) : undefined;
    if (holdUntil !== undefined) {
      // Hold the head a little to fill the batch; a new arrival kicks again and may fill it sooner.
      this.#gapFrom = undefined; // a chosen wait, not time lost between runs
      clearTimeout(this.#batchTimer);
      this.#batchTimer = setTimeout(() => this.#kick(), holdUntil - now);
      return;
    }
    clearTimeout(this.#batchTimer);
    if (this.#gapFrom !== undefined) this.#gapMs += GAP_ALPHA * (now - this.#gapFrom - this.#gapMs);
    this.#gapFrom = undefined;
    for (const item of batch) this.#take(item, true);
    void this.#run(batch, size.rows, size.work);
  }

  /** The head plus queued requests that can share its run, in serving order, within max_batch rows; a quarantined tenant's run alone. */
  #gather(head: Queued): Queued[] {
    if (head.key === undefined || this.#quarantine.holds(head.call.tenant)) return [head];
    const batch = [head];
    let rows = head.rows;
    for (const item of this.#queue.inOrder()) {
      if (item === head || item.key !== head.key || rows + item.rows > head.call.model.maxBatch || this.#quarantine.holds(item.call.tenant)) continue;
      batch.push(item);
      rows += item.rows;
    }
    return batch;
  }

  async #run(batch: Queued[], rows: number, work: number): Promise<void> {
    try {
      if (batch[0]!.loop) await this.#attemptJob(batch[0]!).catch((error: unknown) => batch[0]!.reject(runError(error)));
      else await this.#settle(batch, rows, work);
    } finally {
      this.#running = this.#job = undefined;
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

  /** Runs `batch` and answers each request: its run's time, or 0 when it failed (failed-batch.ts). */
  async #settle(batch: Queued[], rows: number, work: number): Promise<number> {
    try {
      return await this.#attempt(batch, rows, work);
    } catch (error) {
      const context = {
        counters: this.counters,
        quarantine: this.#quarantine,
        now: this.#now,
        runAlone: (item: Queued) => this.#attempt([item], item.rows, item.work),
      };
      await answerFailedBatch(batch, error, context);
      return 0;
    }
  }

  /** At a job's yield: the requests of more important tiers queued meanwhile run (batched as usual); returns their run time, not the job's. */
  async #runMoreImportant(job: Running): Promise<number> {
    let ms = 0;
    const pausedAt = this.#now();
    // Requests only, in serving order: a more important job queued among them waits for this one's end.
    const next = () => this.#queue.inOrder().find((item) => item.priority < job.item.priority && !item.loop);
    for (let head = next(); head; head = next()) {
      if (head.call.deadline <= this.#now()) {
        this.#expire(head);
        continue;
      }
      const batch = this.#gather(head);
      for (const item of batch) this.#take(item, true);
      ms += await this.#settle(batch, sumOf(batch, "rows"), sumOf(batch, "work"));
    }
    this.#running = job;
    job.startedAt += this.#now() - pausedAt; // what is left of the job is as before the pause
    return ms;
  }

  /** Runs `batch` (merged when it holds more than one item) and answers each item; its run's time; throws when the run fails. */
  async #attempt(batch: Queued[], rows: number, work: number): Promise<number> {
    const first = batch[0]!;
    const model = first.call.model;
    const startedAt = this.#now();
    this.#running = { model, rows, work, runs: 1, startedAt, item: first, cancelled: false };
    const axes = batch.length > 1 ? model.batchAxes : undefined;
    const each = batch.map((item) => item.call.inputs);
    const inputs = axes ? mergeInputs(each, axes) : first.call.inputs;
    const result = await this.#options.run(model, inputs, first.call.outputNames);
    this.#predictors.of(model).observe(work, result.inferMs, result.firstRun);
    // The run and the gap before the next one are thread time its requests' priorities used.
    const usedMs = result.inferMs + this.#gapMs;
    for (const item of batch) this.#busy.add(item.call.priority, (usedMs * item.work) / Math.max(1, work), this.#now());
    const sizes = batch.map((item) => item.rows);
    const parts = axes ? splitOutputs(result.outputs, axes, sizes) : [result.outputs];
    if (batch.length > 1) {
      this.counters.batches++;
      this.counters.batchedRequests += batch.length;
    }
    this.#running = undefined;
    const load = this.load();
    this.#yielding = true; // a call chained on an answer must not start a run before this one's finally
    batch.forEach((item, k) => {
      this.counters.completed++;
      item.resolve({
        outputs: parts[k]!,
        timing: { loadMs: result.loadMs, queueMs: startedAt - item.enqueuedAt, inferMs: result.inferMs, batchSize: rows },
        load,
      });
    });
    return result.inferMs;
  }

  /** Runs a job's loop on the session, guarded (job-guard.ts); the predictor learns its mean run. */
  async #attemptJob(item: Queued): Promise<void> {
    const { model, deadline } = item.call;
    const startedAt = this.#now();
    const running: Running = { model, rows: 1, work: item.work, runs: item.runs, startedAt, item, cancelled: false, jobPriority: item.priority };
    this.#running = this.#job = running;
    let runs = 0;
    let othersMs = 0;
    const result = await this.#options.runJob!(model, async (run) => {
      const pause = async () => void (othersMs += await this.#runMoreImportant(running));
      const guard = guardJobRuns(run, deadline, () => running.cancelled, this.#now, pause);
      try {
        await item.loop!(guard.run);
      } finally {
        runs = guard.runs;
      }
    });
    const ownMs = Math.max(0, result.inferMs - othersMs);
    this.#predictors.of(model).observe(item.work, ownMs / Math.max(1, runs), result.firstRun);
    this.#busy.add(item.call.priority, ownMs + this.#gapMs, this.#now());
    this.counters.jobs++;
    this.counters.jobRuns += runs;
    this.counters.completed++;
    this.#running = undefined;
    this.#yielding = true; // as in #attempt
    item.resolve({
      outputs: [],
      timing: { loadMs: result.loadMs, queueMs: startedAt - item.enqueuedAt, inferMs: result.inferMs, batchSize: 1, runs },
      load: this.load(),
    });
  }
}

type Running = RunningWork & { rows: number; item: Queued; cancelled: boolean };

const sumOf = (batch: readonly Queued[], field: "rows" | "work"): number => batch.reduce((sum, item) => sum + item[field], 0);
