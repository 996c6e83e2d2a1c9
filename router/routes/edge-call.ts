/**
 * @module One request on the edge: the call to a ModelHost replica, and what happens when the
 * host fails rather than refuses. A host's refusals (503, 504, 400) arrive as HttpError replies
 * and are the answer. A host fault says nothing about the request: a rejected RPC (the object
 * reset, was overloaded, threw past its reply wrapper, or the stub broke) or a 500 reply (the
 * host's own bug). It becomes a 503 with Retry-After, never a bare 500; the replica is passed over
 * for a short cool-down (replica-set.ts), and the request is tried once more on another replica
 * while its deadline allows. A spillable request is not retried here: the 503 sends it to the pool.
 * The same holds for any call to a host (callEdge): an inference, or a function's job.
 */
import type { Context } from "hono";
import type { HostModel, HostTiming } from "../../durable-objects/model-host/contract.ts";
import type { ModelVersionRecord } from "../../protocol/model-record.ts";
import { beforeDeadline } from "../../protocol/deadline.ts";
import { HttpError } from "../../protocol/errors.ts";
import { unwrapReply, type RpcReply } from "../../protocol/rpc-reply.ts";
import { addTiming, measureTiming, noteTiming } from "../../protocol/http/server-timing.ts";
import { nextHopTraceparent } from "../../protocol/http/trace.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { withWaitBefore, type SchedulerLoad } from "../../scheduler/contract.ts";
import type { AppEnv } from "../app-env.ts";
import { modelHostFor, type HostChoice } from "../placement/model-host.ts";
import type { PlacementPlan } from "../placement/plan.ts";
import type { OriginCall } from "../origin-pool/origin-client.ts";

/** Time past the deadline the router gives a host's answer to arrive before it answers 504 itself. */
const DEADLINE_GRACE_MS = 50;
/** Below this much time left, a second replica (possibly cold) cannot help: answer the 503. */
const MIN_RETRY_BUDGET_MS = 20;
/** Retry-After for a host that failed: a reset object is back within a second or so. */
const HOST_FAULT_RETRY_AFTER_S = 1;

export interface Work extends Omit<OriginCall, "model"> {
  model: ModelVersionRecord;
}

export interface Served {
  outputs: Tensor[];
  servedBy: string;
}

export type EdgePlan = Extract<PlacementPlan, { where: "edge" }>;

/** A rejected RPC, as the runtime reports it: a reset or overload carries these flags. */
interface RpcFailure {
  retryable?: boolean;
  overloaded?: boolean;
  durableObjectReset?: boolean;
}

/** Whether a failed host call is the host's fault (a rejected RPC or a 500 reply) rather than its answer to the request. */
export function isHostFault(error: unknown): boolean {
  return !(error instanceof HttpError) || error.status === 500;
}

/** The 503 a host fault becomes; the cause goes to the log, not to the tenant. */
export function hostFault(host: HostChoice, error: unknown): HttpError {
  if (error instanceof HttpError) {
    console.error(`model host ${host.name} answered ${error.status}: ${error.message}`);
  } else {
    const flags = (typeof error === "object" && error !== null ? error : {}) as RpcFailure;
    console.error(`model host ${host.name} failed (retryable: ${flags.retryable}, overloaded: ${flags.overloaded}, reset: ${flags.durableObjectReset})`, error);
  }
  return new HttpError(503, "the model host is unavailable, try again", HOST_FAULT_RETRY_AFTER_S);
}

/** What every host answer carries besides its value: how it ran, and the host's load after. */
interface HostAnswer {
  timing: HostTiming;
  load: SchedulerLoad;
}

/** One call to a host: `requestId` lets the router cancel it when the client goes away. */
export type HostCall<T extends HostAnswer> = (host: HostChoice, requestId: string) => Promise<RpcReply<T>>;

/**
 * What a host needs of a version record, and no more: every call's arguments are serialised to
 * cross the RPC boundary, and the whole record (the model's input and output specs, placement,
 * replica bounds, state) cost more to copy than the Silero frame it came with (CPU profile).
 */
export function hostModelOf(model: ModelVersionRecord): HostModel {
  const { name, version, r2Key, sha256, bytes, maxBatch, maxQueueDelayMs, batchAxes } = model;
  return { name, version, r2Key, sha256, bytes, maxBatch, maxQueueDelayMs, batchAxes };
}

/**
 * Runs the work on the plan's replica; when that call fails (not a refusal), once more on another
 * replica if the deadline allows and the request cannot spill instead.
 */
export async function onEdge(c: Context<AppEnv>, work: Work, plan: EdgePlan, maxQueueWaitMs: number): Promise<Served> {
  const { model, inputs, outputNames, tenant, priority, deadline } = work;
  const call = { model: hostModelOf(model), inputs, outputNames, tenant, priority, deadline, maxQueueWaitMs, traceparent: nextHopTraceparent(c) };
  const { value, host } = await callEdge(c, model, deadline, plan, (h, requestId) => h.stub.infer({ ...call, requestId }));
  return { outputs: value.outputs, servedBy: `edge:${host.region}/${host.replica}` };
}

/** `call` on the plan's replica, and on another one when the first call fails (not a refusal); see onEdge. */
export async function callEdge<T extends HostAnswer>(
  c: Context<AppEnv>,
  model: ModelVersionRecord,
  deadline: number,
  plan: EdgePlan,
  call: HostCall<T>,
): Promise<{ value: T; host: HostChoice }> {
  try {
    return await onHost(c, model, deadline, plan, plan.host, call);
  } catch (error) {
    if (!isHostFault(error)) throw error;
    const fault = faultOf(plan, plan.host, error);
    if (plan.spillable || deadline - Date.now() < MIN_RETRY_BUDGET_MS) throw fault;
    const other = modelHostFor(c.env, plan.host.region as DurableObjectLocationHint, model.name, plan.replicas.retryTarget(plan.host.replica));
    noteTiming(c, "retry", `${plan.host.region}/${plan.host.replica} failed`);
    try {
      return await onHost(c, model, deadline, plan, other, call);
    } catch (again) {
      throw isHostFault(again) ? faultOf(plan, other, again) : again;
    }
  }
}

/** The host fault's 503; the replica sits out its cool-down, so new requests go to the others. */
function faultOf(plan: EdgePlan, host: HostChoice, error: unknown): HttpError {
  plan.replicas.failed(host.replica);
  return hostFault(host, error);
}

/** Runs on one ModelHost; cancels its queued work if the client goes away. */
async function onHost<T extends HostAnswer>(
  c: Context<AppEnv>,
  model: ModelVersionRecord,
  deadline: number,
  plan: EdgePlan,
  host: HostChoice,
  call: HostCall<T>,
): Promise<{ value: T; host: HostChoice }> {
  const requestId = crypto.randomUUID();
  const cancel = () => void host.stub.cancel(requestId).catch(() => false);
  c.req.raw.signal.addEventListener("abort", cancel);
  let reply: T;
  const calledAt = Date.now();
  try {
    reply = await measureTiming(c, "host", () => beforeDeadline(deadline + DEADLINE_GRACE_MS, (async () => unwrapReply(await call(host, requestId)))()));
  } finally {
    c.req.raw.signal.removeEventListener("abort", cancel);
  }
  // Time spent neither running nor in the host's own queue was spent waiting to reach the host
  // (its input queue while it ran other work): count it as backlog too, or a host that is busy
  // before its scheduler ever sees a request would look idle to the spill and scaling decisions.
  const unseenWaitMs = Math.max(0, Date.now() - calledAt - reply.timing.inferMs - reply.timing.queueMs - reply.timing.loadMs);
  growIfBacklogged(c, model, plan, host, withWaitBefore(reply.load, unseenWaitMs));
  const { loadMs, queueMs, inferMs, batchSize, runs } = reply.timing;
  if (loadMs > 0) addTiming(c, "load", loadMs);
  addTiming(c, "queue", queueMs);
  addTiming(c, "infer", inferMs);
  // A job's runs all happened in the host, in this one call: the answer says how many.
  noteTiming(c, runs === undefined ? "batch" : "runs", String(runs ?? batchSize));
  noteTiming(c, "replica", `${host.region}/${host.replica}`);
  return { value: reply, host };
}

/** Feeds the host's reported load to the replica set; warms a new replica when it should grow. */
function growIfBacklogged(c: Context<AppEnv>, model: ModelVersionRecord, plan: EdgePlan, host: HostChoice, load: SchedulerLoad): void {
  const grow = plan.replicas.observe(host.replica, load);
  if (grow === undefined) return;
  const next = modelHostFor(c.env, host.region as DurableObjectLocationHint, model.name, grow);
  c.executionCtx.waitUntil(
    next.stub
      .warm(model)
      .then((r) => plan.replicas.warmed(grow, r.ok))
      .catch(() => plan.replicas.warmed(grow, false)),
  );
}
