/**
 * @module `POST /v2/models/{m}[/versions/{v}]/infer`: authenticate, rate-limit the tenant,
 * resolve the version, check the tensors against the model's signature, fix the deadline, pick
 * a ModelHost replica, and encode the answer (JSON or the binary extension) with Server-Timing
 * and x-served-by. A request never outlives its deadline here, whatever the host does.
 */
import { Hono, type Context } from "hono";
import { tierConfig } from "../../config/tiers.ts";
import type { HostInferValue } from "../../durable-objects/model-host/contract.ts";
import type { ModelVersionRecord } from "../../durable-objects/model-registry/records.ts";
import { HttpError } from "../../protocol/errors.ts";
import { parseInferRequest } from "../../protocol/infer-request.ts";
import { encodeInferResponse } from "../../protocol/infer-response.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import { checkInputs, selectOutputs } from "../../protocol/tensor-check.ts";
import type { AppEnv } from "../app-env.ts";
import { resolveVersion } from "../catalog.ts";
import { limitsOf } from "../limits.ts";
import { inferenceHeaderLength, readBodyLimited } from "../middleware/read-body.ts";
import { tenantAuth } from "../middleware/tenant-auth.ts";
import { modelHostFor, type HostChoice } from "../placement/model-host.ts";
import { regionOf } from "../placement/region.ts";
import { observeLoad, pickReplica, replicaWarmed } from "../placement/replicas.ts";
import { deadlineFor, TIMEOUT_HEADER } from "../scheduling/deadline.ts";
import { admitTenant } from "../scheduling/tenant-limits.ts";
import { mayUseModel } from "../tenants/records.ts";

/** Time past the deadline the router gives a host's answer to arrive before it answers 504 itself. */
const DEADLINE_GRACE_MS = 50;

export const oipInferRoutes = new Hono<AppEnv>();

oipInferRoutes.post("/v2/models/:model/infer", tenantAuth, (c) => infer(c, undefined));
oipInferRoutes.post("/v2/models/:model/versions/:version/infer", tenantAuth, (c) => infer(c, c.req.param("version")));

async function infer(c: Context<AppEnv>, version: string | undefined): Promise<Response> {
  const arrivedAt = Date.now();
  const timing = c.get("timing");
  const tenant = c.get("tenant");
  const tier = tierConfig(tenant.tier);
  const name = c.req.param("model") ?? "";
  const model = await resolveVersion(c.env, name, version);
  if (!mayUseModel(tenant, name)) throw new HttpError(403, `this key may not use model '${name}'`);
  if (model.placement === "origin") {
    throw new HttpError(503, `model '${name}' runs on the origin pool, and no origin is configured`, 30);
  }

  const release = admitTenant(tenant.id, tier, arrivedAt);
  try {
    const limits = limitsOf(c.env);
    const body = await readBodyLimited(c.req.raw, Math.min(limits.maxInferBodyBytes, tier.maxBatchPayloadBytes));
    const request = parseInferRequest(body, inferenceHeaderLength(c.req.raw), { maxTensorElements: limits.maxTensorElements, maxInputs: 64 });
    checkInputs(request.inputs, model.inputs, { maxBatch: model.maxBatch, modelName: name });
    const outputs = selectOutputs(request.outputs, model.outputs, request.binaryByDefault);
    const deadline = deadlineFor(tier, arrivedAt, request.parameters, c.req.header(TIMEOUT_HEADER));

    const region = regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined);
    const setKey = `${region}:${name}`;
    const host = modelHostFor(c.env, region, name, pickReplica(setKey, model));
    const requestId = crypto.randomUUID();
    const cancel = () => void host.stub.cancel(requestId).catch(() => false);
    c.req.raw.signal.addEventListener("abort", cancel);
    let reply: HostInferValue;
    try {
      reply = await timing.measure("host", () =>
        beforeDeadline(
          deadline.at + DEADLINE_GRACE_MS,
          (async () =>
            unwrapReply(
              await host.stub.infer({
                model, inputs: request.inputs, outputNames: outputs.map((o) => o.name), requestId,
                tenant: tenant.id, priority: tier.priority, deadline: deadline.at, maxQueueWaitMs: tier.maxQueueWaitMs,
              }),
            ))(),
        ),
      );
    } finally {
      c.req.raw.signal.removeEventListener("abort", cancel);
    }
    growIfBacklogged(c, setKey, model, host, reply);

    const { loadMs, queueMs, inferMs, batchSize } = reply.timing;
    if (loadMs > 0) timing.add("load", loadMs);
    timing.add("queue", queueMs);
    timing.add("infer", inferMs);
    timing.note("batch", String(batchSize));
    timing.note("replica", `${host.region}/${host.replica}`);

    const encoded = encodeInferResponse(
      { modelName: name, modelVersion: model.version, id: request.id, outputs: reply.outputs },
      { outputs, binaryByDefault: request.binaryByDefault },
    );
    const headers = new Headers({ "content-type": encoded.contentType, "x-served-by": `edge:${host.region}/${host.replica}` });
    if (encoded.headerLength !== undefined) headers.set("inference-header-content-length", String(encoded.headerLength));
    headers.set("server-timing", timing.header());
    return new Response(encoded.body, { status: 200, headers });
  } finally {
    release();
  }
}

/** Settles with `work`, or with a 504 at `deadlineAt` if the host has not answered by then. */
async function beforeDeadline<T>(deadlineAt: number, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpError(504, "the deadline passed before the model answered")), Math.max(0, deadlineAt - Date.now()));
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Feeds the host's reported load to the replica set; warms a new replica when it should grow. */
function growIfBacklogged(c: Context<AppEnv>, setKey: string, model: ModelVersionRecord, host: HostChoice, reply: HostInferValue): void {
  const grow = observeLoad(setKey, model, host.replica, reply.load);
  if (grow === undefined) return;
  const next = modelHostFor(c.env, host.region as DurableObjectLocationHint, model.name, grow);
  c.executionCtx.waitUntil(
    next.stub
      .warm(model)
      .then((r) => replicaWarmed(setKey, model, grow, r.ok))
      .catch(() => replicaWarmed(setKey, model, grow, false)),
  );
}
