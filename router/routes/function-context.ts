/**
 * @module What a function's `run` step calls models through (functions/contract.ts,
 * FunctionContext), bound to one request: its tenant, tier priority, deadline and the models the
 * route placed before reading the body. `infer` is one inference on the same path as an OIP
 * request (serve-work.ts: a host replica or the pool, spill, retry); `job` sends a host loop to a
 * replica of its model as one call (callEdge: the same retry on a failed host), where the
 * scheduler admits it by its predicted runs and runs it next to the warm session. Both carry the
 * request's trace to the next hop (a child span id): the host in the call, an origin in its header.
 */
import type { Context } from "hono";
import type { HostJobValue } from "../../durable-objects/model-host/contract.ts";
import type { FunctionContext, HostLoop } from "../../functions/contract.ts";
import { HttpError } from "../../protocol/errors.ts";
import { noteTiming } from "../../protocol/http/server-timing.ts";
import { nextHopTraceparent } from "../../protocol/http/trace.ts";
import type { AppEnv } from "../app-env.ts";
import { callEdge, hostModelOf } from "./edge-call.ts";
import { serveWork, type PlacedModel } from "./serve-work.ts";

export interface FunctionCaller {
  tenant: string;
  priority: number;
  /** Absolute, epoch milliseconds. */
  deadline: number;
  maxQueueWaitMs: number;
}

/** Where each model call of the request ran (`edge:<region>/<replica>`, `origin:<id>`), in order. */
export type ServedBy = string[];

export function functionContext(c: Context<AppEnv>, placed: ReadonlyMap<string, PlacedModel>, caller: FunctionCaller, servedBy: ServedBy): FunctionContext {
  const placedFor = (name: string): PlacedModel => {
    const found = placed.get(name);
    // The route places every model the function declares; any other is the function's own bug.
    if (!found) throw new Error(`the function called model '${name}', which it does not declare`);
    return found;
  };
  return {
    async infer(name, inputs, outputNames) {
      const { model, plan } = placedFor(name);
      const { tenant, priority, deadline, maxQueueWaitMs } = caller;
      // A pipeline makes calls to several models: each call's host, queue and infer entries follow its name.
      noteTiming(c, "model", name);
      const served = await serveWork(c, { model, inputs, outputNames, tenant, priority, deadline }, plan, maxQueueWaitMs);
      servedBy.push(served.servedBy);
      return served.outputs;
    },
    maxBatch: (name) => placedFor(name).model.maxBatch,
    async job<P, R>(loop: HostLoop<P, R>, payload: P): Promise<R> {
      const { model, plan } = placedFor(loop.model);
      if (plan.where !== "edge") throw new HttpError(503, `model '${model.name}' runs on the origin pool, and its loop runs only next to an edge host`, 30);
      // The job continues the request's trace as an inference does (edge-call.ts onEdge): the host's failure lines name it.
      const traceparent = nextHopTraceparent(c);
      const { value, host } = await callEdge<HostJobValue<unknown>>(c, model, caller.deadline, plan, (h, requestId) =>
        h.stub.job({ ...caller, model: hostModelOf(model), requestId, loop: loop.name, payload, traceparent }),
      );
      servedBy.push(`edge:${host.region}/${host.replica}`);
      // The host ran this very loop (found by its name) and sent back what its run() returned.
      return value.value as R;
    },
  };
}
