/**
 * @module `POST /v2/models/{m}[/versions/{v}]/infer` on the origin: parse and check the tensors as
 * the edge does, queue them in the same Scheduler as a ModelHost (priority, deadline, fair share
 * by tenant, dynamic batching), and answer in JSON or binary with Server-Timing. The answer comes
 * by the deadline whatever happens: 504 from the queue's timer, or from the guard here if a run
 * overruns it.
 */
import { Hono, type Context } from "hono";
import { beforeDeadline } from "../../protocol/deadline.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { encodeInferResponse } from "../../protocol/oip/infer-response.ts";
import { checkInputs, selectOutputs } from "../../protocol/oip/tensor-check.ts";
import { inferenceHeaderLength, readBodyLimited } from "../../protocol/http/read-body.ts";
import { addTiming, noteTiming } from "../../protocol/http/server-timing.ts";
import type { OriginContext, OriginEnv } from "../context.ts";
import { INFERENCE_HEADER_LENGTH_HEADER, TENANT_HEADER, TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { schedulePolicy } from "../schedule-policy.ts";

/** How long past its deadline a run may still answer before the guard answers 504. */
const DEADLINE_GRACE_MS = 20;
const MAX_INPUTS = 64;

export function inferRoutes(context: OriginContext): Hono<OriginEnv> {
  const routes = new Hono<OriginEnv>();
  routes.post("/v2/models/:model/infer", (c) => infer(c, context, undefined));
  routes.post("/v2/models/:model/versions/:version/infer", (c) => infer(c, context, c.req.param("version")));
  return routes;
}

async function infer(c: Context<OriginEnv>, context: OriginContext, version: string | undefined): Promise<Response> {
  const arrivedAt = Date.now();
  const { config, store, scheduler } = context;
  const name = c.req.param("model") ?? "";
  const entry = store.servable(name, version);
  const model = entry.host!;
  const session = entry.session!;

  const body = await readBodyLimited(c.req.raw, config.maxBodyBytes);
  const request = parseInferRequest(body, inferenceHeaderLength(c.req.raw), { maxTensorElements: config.maxTensorElements, maxInputs: MAX_INPUTS });
  // The record's max batch bounds a request even with batching off (that only stops merging).
  // With the batch axes, inputs that disagree on the batch size are refused here, not in a batch.
  checkInputs(request.inputs, session.inputs, { maxBatch: entry.record!.maxBatch, modelName: name, batchAxes: session.batchAxes });
  const outputs = selectOutputs(request.outputs, session.outputs, request.binaryByDefault);
  const policy = schedulePolicy(request.parameters, { tenant: c.req.header(TENANT_HEADER), timeoutMs: c.req.header(TIMEOUT_HEADER) }, arrivedAt, {
    priority: config.defaultPriority,
    timeoutMs: config.defaultTimeoutMs,
    maxTimeoutMs: config.maxTimeoutMs,
  });

  const requestId = crypto.randomUUID();
  // A client that went away (the edge gave up or retried elsewhere) should not cost a run.
  const cancel = () => void scheduler.cancel(requestId);
  c.req.raw.signal.addEventListener("abort", cancel);
  let reply;
  try {
    reply = await store.track(
      entry,
      beforeDeadline(
        policy.deadline + DEADLINE_GRACE_MS,
        scheduler.submit({
          model,
          inputs: request.inputs,
          outputNames: outputs.map((o) => o.name),
          requestId,
          tenant: policy.tenant,
          priority: policy.priority,
          deadline: policy.deadline,
          maxQueueWaitMs: Number.POSITIVE_INFINITY,
        }),
      ),
    );
  } finally {
    c.req.raw.signal.removeEventListener("abort", cancel);
  }

  const { queueMs, inferMs, batchSize } = reply.timing;
  addTiming(c, "queue", queueMs);
  addTiming(c, "infer", inferMs);
  noteTiming(c, "batch", String(batchSize));
  const encoded = encodeInferResponse(
    { modelName: name, modelVersion: entry.version, id: request.id, outputs: reply.outputs },
    { outputs, binaryByDefault: request.binaryByDefault },
  );
  const headers = new Headers({ "content-type": encoded.contentType });
  if (encoded.headerLength !== undefined) headers.set(INFERENCE_HEADER_LENGTH_HEADER, String(encoded.headerLength));
  return new Response(encoded.body, { status: 200, headers });
}
