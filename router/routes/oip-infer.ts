/**
 * @module `POST /v2/models/{m}[/versions/{v}]/infer`: authenticate, rate-limit the tenant,
 * resolve the version, refuse at once when the chosen host already has more work ahead of this
 * tier than it may wait, read the body within the isolate's body budget (body-budget.ts), check
 * the tensors against the model's signature, fix the deadline, run it where its placement says
 * (serve-work.ts: a ModelHost replica, or the origin pool: always for `origin` models, on spill
 * for `auto` ones), and encode the answer (JSON or the binary extension) with Server-Timing and
 * x-served-by (and x-hotpath-variant when a variant answered: variant-serve.ts). A request never
 * outlives its deadline here, whatever runs it. A version uploaded with `cache_ttl_seconds` is
 * looked up in the edge cache once its tensors are checked, and a hit is answered from there
 * (router/response-cache/).
 */
import { Hono, type Context } from "hono";
import { tierConfig } from "../../config/tiers.ts";
import { INFERENCE_HEADER_LENGTH_HEADER, SERVED_BY_HEADER, TIMEOUT_HEADER, VARIANT_HEADER } from "../../protocol/headers.ts";
import { HttpError } from "../../protocol/errors.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { encodeInferResponse } from "../../protocol/oip/infer-response.ts";
import { checkInputs, selectOutputs } from "../../protocol/oip/tensor-check.ts";
import type { AppEnv } from "../app-env.ts";
import { limitsOf } from "../limits.ts";
import { inferenceHeaderLength } from "../../protocol/http/read-body.ts";
import { tenantAuth } from "../middleware/tenant-auth.ts";
import { deadlineFor } from "../admission/deadline.ts";
import { admitTenant } from "../admission/tenant-limits.ts";
import { BodyHold, readBodyWithinBudget } from "../admission/body-budget.ts";
import { mayUseModel } from "../tenants/records.ts";
import type { Work } from "./edge-call.ts";
import { placeWithVariants, refuseDeferred, serveWithVariants } from "./variant-serve.ts";
import { noteUsage } from "../metrics/usage.ts";
import { batchSizeOf } from "../../protocol/batching.ts";
import { samplePayload } from "../payload-log.ts";
import { lookUpAnswer } from "../response-cache/answer-cache.ts";
import { sizedResponse } from "../../protocol/http/known-length.ts";

export const oipInferRoutes = new Hono<AppEnv>();

oipInferRoutes.post("/v2/models/:model/infer", tenantAuth, (c) => infer(c, undefined));
oipInferRoutes.post("/v2/models/:model/versions/:version/infer", tenantAuth, (c) => infer(c, c.req.param("version")));

async function infer(c: Context<AppEnv>, version: string | undefined): Promise<Response> {
  const arrivedAt = Date.now();
  const tenant = c.get("tenant");
  const tier = tierConfig(tenant.tier);
  const name = c.req.param("model") ?? "";
  // The key's right to the name, then the tenant's rate, both before the catalog is read: a key
  // gets 403 whether the model exists or not, and a tenant over its rate costs no catalog I/O.
  if (!mayUseModel(tenant, name)) throw new HttpError(403, `this key may not use model '${name}'`);
  const limits = limitsOf(c.env);
  const release = admitTenant(tenant.id, tier, arrivedAt, c.req.raw.signal);
  // The body and the tensors parsed from it live until the answer is made: the hold lasts as long.
  const bodyHold = new BodyHold(limits.routerBodyBudgetBytes, c.req.raw.signal);
  try {
    // A version that caches reads the body before the host's backlog can refuse it: a hit needs no host.
    const placed = await placeWithVariants(c, tier, name, version, arrivedAt, (m) => m.cache !== undefined);
    const { model } = placed;
    const body = await readBodyWithinBudget(c.req.raw, Math.min(limits.maxInferBodyBytes, tier.maxBatchPayloadBytes), bodyHold);
    noteUsage(c, { bytesIn: body.byteLength });
    const request = parseInferRequest(body, inferenceHeaderLength(c.req.raw), {
      maxTensorElements: limits.maxTensorElements,
      maxInputs: 64,
      reserveParsed: (bytes) => bodyHold.takeForParse(bytes),
    });
    checkInputs(request.inputs, model.inputs, { maxBatch: model.maxBatch, modelName: name, batchAxes: model.batchAxes });
    noteUsage(c, { rows: model.batchAxes ? batchSizeOf(request.inputs, model.batchAxes) : 1 });
    const outputs = selectOutputs(request.outputs, model.outputs, request.binaryByDefault);
    const deadline = deadlineFor(tier, arrivedAt, request.parameters, c.req.header(TIMEOUT_HEADER));
    const work: Work = {
      model,
      inputs: request.inputs,
      outputNames: outputs.map((o) => o.name),
      tenant: tenant.id,
      priority: tier.priority,
      deadline: deadline.at,
    };

    const cached = await lookUpAnswer(c, model, request, outputs);
    if (cached?.hit) return cached.hit;
    const served = await serveWithVariants(c, work, cached ? refuseDeferred(c, tier, placed, arrivedAt) : placed, tier, request.parameters);
    const encoded = encodeInferResponse(
      { modelName: name, modelVersion: model.version, id: request.id, outputs: served.outputs },
      { outputs, binaryByDefault: request.binaryByDefault },
    );
    const headers = new Headers({ "content-type": encoded.contentType, [SERVED_BY_HEADER]: served.servedBy });
    if (served.variant !== undefined) headers.set(VARIANT_HEADER, served.variant);
    if (encoded.headerLength !== undefined) headers.set(INFERENCE_HEADER_LENGTH_HEADER, String(encoded.headerLength));
    // Kept under the variant it was asked for only: a degraded answer is not the default's.
    if (cached && (served.variant ?? "default") === cached.variant) cached.keep(encoded, headers);
    samplePayload(c, model, body, encoded);
    // Sized: sent with Content-Length, and its bytes out counted from it (router/metrics/usage.ts).
    return sizedResponse(encoded.body, 200, headers);
  } finally {
    bodyHold.release();
    release();
  }
}
