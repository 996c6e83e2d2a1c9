/**
 * @module `POST /v2/models/{m}[/versions/{v}]/infer`: authenticate, rate-limit the tenant,
 * resolve the version, refuse at once when the chosen host already has more work ahead of this
 * tier than it may wait, read the body within the isolate's body budget (body-budget.ts), check
 * the tensors against the model's signature, fix the deadline, run it where its placement says
 * (a ModelHost replica, or the origin pool: always for `origin` models, on spill for `auto` ones),
 * and encode the answer (JSON or the binary extension) with Server-Timing and x-served-by. A
 * request never outlives its deadline here, whatever runs it.
 */
import { Hono, type Context } from "hono";
import { tierConfig } from "../../config/tiers.ts";
import { INFERENCE_HEADER_LENGTH_HEADER, SERVED_BY_HEADER, TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { HttpError } from "../../protocol/errors.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { encodeInferResponse } from "../../protocol/oip/infer-response.ts";
import { checkInputs, selectOutputs } from "../../protocol/oip/tensor-check.ts";
import type { AppEnv } from "../app-env.ts";
import { resolveVersion } from "../catalog.ts";
import { limitsOf } from "../limits.ts";
import { inferenceHeaderLength } from "../../protocol/http/read-body.ts";
import { measureTiming, noteTiming } from "../../protocol/http/server-timing.ts";
import { tenantAuth } from "../middleware/tenant-auth.ts";
import { mayUsePool, planPlacement, type PlacementPlan } from "../placement/plan.ts";
import { isCapacityRefusal, spillAfterRefusal, spillUpFront } from "../placement/spill.ts";
import { checkOriginsWhenDue } from "../origin-pool/health-check.ts";
import { inferOnPool } from "../origin-pool/origin-client.ts";
import { deadlineFor } from "../admission/deadline.ts";
import { budgetBeforeBodyMs, refuseEarly } from "../admission/early-refusal.ts";
import { admitTenant } from "../admission/tenant-limits.ts";
import { BodyHold, readBodyWithinBudget } from "../admission/body-budget.ts";
import { mayUseModel } from "../tenants/records.ts";
import { onEdge, type Served, type Work } from "./edge-call.ts";

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
  const release = admitTenant(tenant.id, tier, arrivedAt);
  const limits = limitsOf(c.env);
  // The body and the tensors parsed from it live until the answer is made: the hold lasts as long.
  const bodyHold = new BodyHold(limits.routerBodyBudgetBytes, c.req.raw.signal);
  try {
    const model = await resolveVersion(c.env, name, version);
    const plan = planPlacement(c.env, c.req.raw.cf as IncomingRequestCfProperties | undefined, model, tier);
    if (mayUsePool(model)) checkOriginsWhenDue(c.env, (p) => c.executionCtx.waitUntil(p));

    if (plan.where === "edge" && !plan.spillable) {
      refuseEarly(tenant.tier, tier, plan.waitMs, budgetBeforeBodyMs(tier, c.req.header(TIMEOUT_HEADER)) - (Date.now() - arrivedAt));
    }

    const body = await readBodyWithinBudget(c.req.raw, Math.min(limits.maxInferBodyBytes, tier.maxBatchPayloadBytes), bodyHold);
    const request = parseInferRequest(body, inferenceHeaderLength(c.req.raw), { maxTensorElements: limits.maxTensorElements, maxInputs: 64 });
    checkInputs(request.inputs, model.inputs, { maxBatch: model.maxBatch, modelName: name, batchAxes: model.batchAxes });
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

    const served = await serve(c, work, plan, tier.maxQueueWaitMs);
    const encoded = encodeInferResponse(
      { modelName: name, modelVersion: model.version, id: request.id, outputs: served.outputs },
      { outputs, binaryByDefault: request.binaryByDefault },
    );
    const headers = new Headers({ "content-type": encoded.contentType, [SERVED_BY_HEADER]: served.servedBy });
    if (encoded.headerLength !== undefined) headers.set(INFERENCE_HEADER_LENGTH_HEADER, String(encoded.headerLength));
    return new Response(encoded.body, { status: 200, headers });
  } finally {
    bodyHold.release();
    release();
  }
}

/**
 * Where the work runs: on the pool when the plan says so; a spillable request on the pool first
 * when the edge is already too slow, else at the edge with the pool behind it for refusals; the
 * rest at the edge. Each fallback happens only while the deadline leaves time for it.
 */
async function serve(c: Context<AppEnv>, work: Work, plan: PlacementPlan, maxQueueWaitMs: number): Promise<Served> {
  if (plan.where === "pool") return onPool(c, work, undefined);
  if (plan.spillable && spillUpFront(c.env, work.model, plan.waitMs, work.deadline - Date.now(), work.priority)) {
    try {
      return await onPool(c, work, "edge backlog");
    } catch (error) {
      // The pool failed first: the edge may still make it in the time left.
      if (!isCapacityRefusal(error) || work.deadline <= Date.now()) throw error;
      return onEdge(c, work, plan, maxQueueWaitMs);
    }
  }
  try {
    return await onEdge(c, work, plan, maxQueueWaitMs);
  } catch (error) {
    if (!plan.spillable || !spillAfterRefusal(c.env, work.model, error, work.deadline - Date.now(), work.priority)) throw error;
    return onPool(c, work, "edge refused");
  }
}

/** Runs on the origin pool; `spilled` says why an edge model went there. */
async function onPool(c: Context<AppEnv>, work: Work, spilled: string | undefined): Promise<Served> {
  if (spilled) noteTiming(c, "spill", spilled);
  const answer = await measureTiming(c, "origin", () => inferOnPool(c.env, work));
  noteTiming(c, "served", `origin:${answer.origin}${answer.attempts > 1 ? ` after ${answer.attempts} tries` : ""}`);
  return { outputs: answer.outputs, servedBy: `origin:${answer.origin}` };
}
