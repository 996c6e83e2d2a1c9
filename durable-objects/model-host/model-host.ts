/**
 * @module ModelHost: one Durable Object per (region, model, replica) that keeps warm
 * onnxruntime-web sessions and schedules inference on them (priorities, deadlines, fair share,
 * dynamic batching: see /scheduler). The router calls it by RPC with the model's record, so
 * the host needs no lookup on the hot path; it reads weights from R2 only when a session is
 * created and checks their sha256 first.
 *
 * Its memory is bounded on every side the tenants can push: the bytes of queued inputs
 * (HOST_QUEUE_BUDGET_MB, input-budget.ts), the warm sessions (HOST_MEMORY_BUDGET_MB, admitted
 * before each load, session-cache.ts), loads at once (HOST_MAX_CONCURRENT_LOADS, load-slots.ts),
 * and sessions left unused (HOST_SESSION_IDLE_MS, released by the alarm, idle-sweep.ts).
 */
import { DurableObject } from "cloudflare:workers";
import { TIER_PRIORITIES } from "../../config/tiers.ts";
import { choiceVar, positiveVar, VAR_DEFAULTS } from "../../config/vars.ts";
import { HttpError, retryAfterSecondsFor } from "../../protocol/errors.ts";
import { createModelSession, type ModelSession } from "../../protocol/model-session.ts";
import { replyOf, type RpcReply } from "../../protocol/rpc-reply.ts";
import { sha256Hex } from "../../protocol/sha256.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { Scheduler } from "../../scheduler/scheduler.ts";
import { timeRun } from "../../scheduler/run-timer.ts";
import { REGISTRY_NAME } from "../model-registry/model-registry.ts";
import { hostLoopNamed } from "../../functions/host-loops.ts";
import type { SessionRun } from "../../scheduler/contract.ts";
import type { HostInferCall, HostInferValue, HostJobCall, HostJobValue, HostLoad, HostModel, HostState, InspectedModel } from "./contract.ts";
import { IdleSweep } from "./idle-sweep.ts";
import { InputBudget, inputBytesOf, type InputOwner } from "./input-budget.ts";
import { LoadSlots } from "./load-slots.ts";
import { ortWeb } from "./ort-web.ts";
import { SessionCache } from "./session-cache.ts";

const MB = 1024 * 1024;

export class ModelHost extends DurableObject<Env> {
  readonly #sessions: SessionCache;
  /** Sessions that have run once: the first run pays onnxruntime's lazy setup (see RunOutcome.firstRun). */
  readonly #ran = new WeakSet<ModelSession>();
  readonly #scheduler: Scheduler;
  readonly #memoryBudgetBytes: number;
  readonly #inputs: InputBudget;
  readonly #loads: LoadSlots;
  readonly #idle: IdleSweep;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Fail closed (config/vars.ts): a NaN budget or queue length would compare false with
    // everything, so nothing would ever be evicted, shed or refused.
    this.#memoryBudgetBytes = positiveVar("HOST_MEMORY_BUDGET_MB", env.HOST_MEMORY_BUDGET_MB, VAR_DEFAULTS.HOST_MEMORY_BUDGET_MB) * MB;
    this.#sessions = new SessionCache(this.#memoryBudgetBytes);
    this.#inputs = new InputBudget(positiveVar("HOST_QUEUE_BUDGET_MB", env.HOST_QUEUE_BUDGET_MB, VAR_DEFAULTS.HOST_QUEUE_BUDGET_MB) * MB);
    this.#loads = new LoadSlots(
      positiveVar("HOST_MAX_CONCURRENT_LOADS", env.HOST_MAX_CONCURRENT_LOADS, VAR_DEFAULTS.HOST_MAX_CONCURRENT_LOADS, { integer: true }),
    );
    const idleMs = positiveVar("HOST_SESSION_IDLE_MS", env.HOST_SESSION_IDLE_MS, VAR_DEFAULTS.HOST_SESSION_IDLE_MS);
    this.#idle = new IdleSweep(ctx.storage, this.#sessions, idleMs);
    this.#scheduler = new Scheduler({
      maxQueueLength: positiveVar("HOST_MAX_QUEUE_LENGTH", env.HOST_MAX_QUEUE_LENGTH, VAR_DEFAULTS.HOST_MAX_QUEUE_LENGTH, { integer: true }),
      // A typo ("fifoo") throws rather than quietly running the other policy (a benchmark's baseline would be wrong).
      policy: choiceVar("SCHEDULER_POLICY", env.SCHEDULER_POLICY, ["tiered", "fifo"], "tiered"),
      run: (model, inputs, outputNames) => this.#run(model, inputs, outputNames),
      runJob: (model, loop) => this.#runJob(model, loop),
      reportPriorities: TIER_PRIORITIES,
    });
  }

  async infer(call: HostInferCall): Promise<RpcReply<HostInferValue>> {
    return replyOf(
      () => this.#holdingInputs(inputBytesOf(call.inputs), call, () => this.#scheduler.submit(call)),
      `inference ${call.traceparent ?? ""}`.trim(),
    );
  }

  /** Runs `work` with `bytes` of inputs counted in the host's budget, making room first if it can. */
  async #holdingInputs<T>(bytes: number, owner: InputOwner, work: () => Promise<T>): Promise<T> {
    // The room frees up as the queue drains: the backlog is when to try again.
    const retryAfter = () => retryAfterSecondsFor(this.#scheduler.load().backlogMs);
    const inputs = this.#inputs;
    const over = () => inputs.liveBytes + bytes - inputs.budgetBytes;
    if (bytes <= inputs.budgetBytes && over() > 0) this.#makeRoom(owner, over);
    return inputs.hold(bytes, owner, retryAfter, work);
  }

  /**
   * Less important queued work makes room for a newcomer, as in a full queue (a free tenant's big
   * inputs must not keep a premium request out); and within its tier, a tenant holding more than
   * half the budget gives up its newest queued requests down to half. Only when that could make
   * room: shedding that cannot free enough is refused work for nothing. What is shed counts as room
   * at once (liveBytes), so two newcomers do not shed for the same room.
   */
  #makeRoom(owner: InputOwner, over: () => number): void {
    const inputs = this.#inputs;
    const queued = (requestId: string) => this.#scheduler.queued(requestId);
    const hog = inputs.overShare(owner.priority, owner.tenant, queued);
    const fromHog = hog ? Math.min(hog.queuedBytes, hog.bytes - inputs.budgetBytes / 2) : 0;
    if (inputs.queuedBelow(owner.priority, queued) + fromHog < over()) return;
    while (over() > 0) {
      let shed = this.#scheduler.shedFor(owner.priority);
      for (const id of inputs.overShare(owner.priority, owner.tenant, queued)?.requestIds ?? [])
        shed ??= this.#scheduler.shedFor(owner.priority, owner.tenant, id);
      if (shed === undefined) return;
      inputs.markShed(shed);
    }
  }

  /** The idle-session alarm (idle-sweep.ts). */
  override async alarm(): Promise<void> {
    await this.#idle.sweep();
  }

  /**
   * Runs a host loop (functions/host-loops.ts) over its payload as one job: admitted with its
   * cost predicted from its runs, queued with the caller's tier and deadline, then all its runs
   * on the warm session here, so the loop costs the router one call.
   */
  async job(call: HostJobCall): Promise<RpcReply<HostJobValue<unknown>>> {
    return replyOf(
      () => {
        const { loop: name, payload, ...scheduling } = call;
        const loop = hostLoopNamed(name);
        // Both are the router's mistake, never the tenant's: the router and the host share one registry.
        if (!loop) throw new HttpError(500, `the model host has no loop '${name}'`);
        if (loop.model !== call.model.name) throw new HttpError(500, `host loop '${name}' runs on model '${loop.model}', not '${call.model.name}'`);
        const plan = loop.plan(payload);
        const job = { ...scheduling, runs: plan.runs, workPerRun: plan.workPerRun, loop: (run: SessionRun) => loop.run(plan.payload, run) };
        // A job's payload (a clip's samples) is held like a request's tensors, and sheds like them.
        return this.#holdingInputs(plan.bytes, call, () => this.#scheduler.submitJob(job));
      },
      `job ${call.loop} ${call.traceparent ?? ""}`.trim(),
    );
  }

  /**
   * Runs the model with no queue, no checks, no accounting and no timing (the ticks that time a
   * scheduled run feed its predictor; a bare run has none): the benchmark's baseline for what the
   * platform adds. Only reachable through the bench routes, which are off unless enabled.
   * `runs` 0 answers no outputs without running (the call's own cost); 2 or more runs the same
   * inputs again in the one call (a run's cost without a call's), answering the last run's outputs.
   */
  async runBare(model: HostModel, inputs: Tensor[], outputNames: string[], runs = 1): Promise<RpcReply<Tensor[]>> {
    return replyOf(
      () =>
        this.#withSession(model, async (session) => {
          let outputs: Tensor[] = [];
          for (let run = 0; run < runs; run++) outputs = await session.run(inputs, outputNames);
          return outputs;
        }),
      "bare run",
    );
  }

  /** The router calls this when its client went away, so queued work is dropped. */
  cancel(requestId: string): boolean {
    return this.#scheduler.cancel(requestId);
  }

  /** Loads the session (if needed) so that traffic moved to it finds it warm. */
  async warm(model: HostModel): Promise<RpcReply<HostState>> {
    return replyOf(async () => {
      await this.#withSession(model, async () => undefined);
      return this.state();
    }, "warming the model");
  }

  /**
   * Loads a version just uploaded to R2, proving it is a runnable model and reading its
   * signature. The session stays warm, so the first request after the upload does not pay for
   * the load again; the caller drops it if the version is not registered after all.
   */
  async inspect(model: HostModel): Promise<RpcReply<InspectedModel>> {
    return replyOf(() => this.#withSession(model, async ({ inputs, outputs, batchAxes }) => ({ inputs, outputs, batchAxes })), "loading the model");
  }

  /** Releases a version's sessions (of any bytes it had, or only of `sha256`) after their in-flight runs finish (unload, delete). */
  async drop(name: string, version: string, sha256 = ""): Promise<boolean> {
    const prefix = `${name}@${version}#${sha256}`;
    const keys = this.#sessions.info().flatMap((s) => (s.key.startsWith(prefix) ? [s.key] : []));
    return (await Promise.all(keys.map((k) => this.#sessions.drop(k)))).some(Boolean);
  }

  load(): HostLoad {
    return this.#scheduler.load();
  }

  state(): HostState {
    const now = Date.now();
    return {
      host: this.ctx.id.name ?? this.ctx.id.toString(),
      sessions: this.#sessions.info().map((s) => {
        const [model = "", version = ""] = s.key.split("#")[0]!.split("@");
        return { model, version, bytes: s.fileBytes, memoryBytes: s.memoryBytes, inFlight: s.inFlight, idleMs: now - s.lastUsed, ready: s.ready };
      }),
      memoryEstimateBytes: this.#sessions.heldBytes(),
      memoryBudgetBytes: this.#memoryBudgetBytes,
      queuedInputBytes: this.#inputs.heldBytes,
      queueBudgetBytes: this.#inputs.budgetBytes,
      loads: this.#loads.counts(),
      load: this.#scheduler.load(),
      serviceTimes: this.#scheduler.serviceTimes(),
      counters: { ...this.#scheduler.counters },
    };
  }

  async #run(model: HostModel, inputs: Tensor[], outputNames: string[]) {
    const { value: outputs, ...timing } = await this.#timedOnSession(model, (session) => session.run(inputs, outputNames));
    return { outputs, ...timing };
  }

  /** A job's loop on the session, timed as a whole: one clock pair for all its runs, not two ticks per run. */
  async #runJob(model: HostModel, loop: (run: SessionRun) => Promise<void>) {
    const { value: _, ...timing } = await this.#timedOnSession(model, (session) => loop((inputs, outputNames) => session.run(inputs, outputNames)));
    return timing;
  }

  /** Runs `use` on the model's session, loading it first if needed, and times the load and the use. */
  async #timedOnSession<T>(model: HostModel, use: (session: ModelSession) => Promise<T>) {
    const calledAt = Date.now();
    const wasWarm = this.#sessions.has(keyOf(model));
    // No room is refused here, with its own message, before any load starts: it is not a broken
    // model, and the message names no internal detail.
    this.#sessions.admit(keyOf(model), model.bytes);
    let loaded = false;
    try {
      return await this.#withSession(model, async (session) => {
        loaded = true;
        const loadMs = wasWarm ? 0 : Date.now() - calledAt;
        // Not a Date.now() pair: the deployed clock stands still during the synchronous run (run-timer.ts).
        const { value, ms: inferMs } = await timeRun(() => use(session));
        // By session, not by wasWarm: a request that waited on another's load runs second.
        const firstRun = !this.#ran.has(session);
        this.#ran.add(session);
        return { value, loadMs, inferMs, firstRun };
      });
    } catch (error) {
      // A run's own errors are already fit for the tenant (model-session.ts). A failed load is
      // not: it names the R2 key or carries onnxruntime's message, which the operator needs and
      // the tenant must not see. The upload (inspect) and warm paths keep the detail: only the
      // admin and the registry call them.
      if (loaded) throw error;
      console.error(`loading ${keyOf(model)} for a request failed`, error instanceof HttpError ? `${error.status}: ${error.message}` : error);
      // 503 is #load's own refusal (bytes missing, corrupt or unreadable in R2); anything else failed in onnxruntime.
      const bytesGone = error instanceof HttpError && error.status === 503;
      throw new HttpError(503, bytesGone ? "the model's bytes are unavailable on this host now" : "the model could not be loaded on this host now", 5);
    }
  }

  /**
   * Runs `use` on the model's warm session, loading it first if this host has none and the
   * memory budget has room (503 otherwise), once a load slot is free.
   */
  #withSession<T>(model: HostModel, use: (session: ModelSession) => Promise<T>): Promise<T> {
    const load = () => this.#loads.run(() => this.#load(model));
    return this.#sessions.with(keyOf(model), model.bytes, load, use).finally(() => this.#idle.arm());
  }

  async #load(model: HostModel): Promise<ModelSession> {
    const object = await this.env.MODELS.get(model.r2Key).catch((error: unknown) => {
      // An R2 outage says nothing about the model: try again later, not a 500.
      console.error(`reading '${model.r2Key}' from R2 failed`, error);
      throw new HttpError(503, `model bytes '${model.r2Key}' could not be read from storage now`, 5);
    });
    if (!object) throw new HttpError(503, `model bytes '${model.r2Key}' are missing from storage`, 5);
    const bytes = new Uint8Array(await object.arrayBuffer());
    if ((await sha256Hex(bytes)) !== model.sha256) throw new HttpError(503, `model bytes '${model.r2Key}' fail their sha256 check`, 5);
    const session = await createModelSession(ortWeb(), bytes);
    // Tell the registry this host serves the model, so a default-version swap warms it first and
    // an unload frees it. By id, not name: an object reached through another process (npm start's
    // two workerd processes) does not see the name it was reached by.
    void this.env.MODEL_REGISTRY.getByName(REGISTRY_NAME)
      .recordHost(model.name, this.ctx.id.toString())
      .catch(() => undefined);
    return session;
  }
}

/**
 * The content is part of the key: a version deleted and uploaded again with other bytes must get
 * a new session, never the one this host still holds for the old bytes.
 */
const keyOf = (model: HostModel): string => `${model.name}@${model.version}#${model.sha256}`;
