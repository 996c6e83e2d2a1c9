/**
 * @module The function API (functions/contract.ts): `GET /v1/functions` lists what the registry
 * holds; `POST /v1/functions/{name}` runs one. A function call is treated as an inference is:
 * the tenant key, the right to every model the function uses (403), the tier's rate and
 * in-flight cap (429), the early refusal of each model's host (503), the body limit (413) and
 * the isolate's body budget (503), the deadline (`x-hotpath-timeout-ms`; a function may declare a
 * longer default than the tier's, up to the tier's maximum), errors as `{"error"}`. Before the
 * body is read, an unknown function is 404, a content type it does not accept 415 and a bad option 400. The steps are
 * timed into Server-Timing as `decode`, the model calls (`host`, `queue`, `infer`, ...) and
 * `post`; `x-served-by` says where each model call ran. A sampled call (payload-log.ts) has its
 * media and answer written to R2 after the answer has gone.
 */
import { Hono, type Context } from "hono";
import { tierConfig, type TierConfig } from "../../config/tiers.ts";
import { FUNCTIONS, functionNamed } from "../../functions/registry.ts";
import type { FunctionInfo } from "../../functions/contract.ts";
import { HttpError } from "../../protocol/errors.ts";
import { SERVED_BY_HEADER, TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { addTiming } from "../../protocol/http/server-timing.ts";
import { timeRun } from "../../scheduler/run-timer.ts";
import type { AppEnv } from "../app-env.ts";
import { BodyHold, readBodyWithinBudget } from "../admission/body-budget.ts";
import { deadlineFor, functionDefaultMs } from "../admission/deadline.ts";
import { admitTenant } from "../admission/tenant-limits.ts";
import { limitsOf } from "../limits.ts";
import { tenantAuth } from "../middleware/tenant-auth.ts";
import { mayUseModel } from "../tenants/records.ts";
import { functionContext, type ServedBy } from "./function-context.ts";
import { placeModel, type PlacedModel } from "./serve-work.ts";
import { noteUsage } from "../metrics/usage.ts";
import { sampleFunctionPayload } from "../payload-log.ts";
import { sizedResponse } from "../../protocol/http/known-length.ts";

export const functionRoutes = new Hono<AppEnv>();

functionRoutes.get("/v1/functions", tenantAuth, (c) => {
  const tenant = c.get("tenant");
  const tier = tierConfig(tenant.tier);
  admitTenant(tenant.id, tier)();
  return c.json({ functions: FUNCTIONS.map((fn) => describe(fn, tier)) });
});

functionRoutes.post("/v1/functions/:name", tenantAuth, callFunction);

/** What a caller of `tier` may know of a function, with the deadline its calls get when they ask for none. */
function describe({ name, description, accepts, models, options, defaultDeadlineMs }: FunctionInfo, tier: TierConfig) {
  return { name, description, accepts, models, options, default_deadline_ms: functionDefaultMs(tier, defaultDeadlineMs) };
}

async function callFunction(c: Context<AppEnv>): Promise<Response> {
  const arrivedAt = Date.now();
  const tenant = c.get("tenant");
  const tier = tierConfig(tenant.tier);
  const name = c.req.param("name") ?? "";
  const fn = functionNamed(name);
  if (!fn) throw new HttpError(404, `no function '${clip(name)}': GET /v1/functions lists them`);
  // Before the rate is counted or anything is read, as for a model: a key learns nothing it may not use.
  const denied = fn.models.find((model) => !mayUseModel(tenant, model));
  if (denied) throw new HttpError(403, `this key may not use model '${denied}', which function '${fn.name}' runs`);
  const limits = limitsOf(c.env);
  const release = admitTenant(tenant.id, tier, arrivedAt, c.req.raw.signal);
  // The body and the media decoded from it live until the answer is made: the hold lasts as long.
  const bodyHold = new BodyHold(limits.routerBodyBudgetBytes, c.req.raw.signal);
  try {
    const mediaType = mediaTypeOf(c.req.header("content-type"));
    if (!fn.accepts.includes(mediaType)) {
      throw new HttpError(415, `function '${fn.name}' accepts ${fn.accepts.join(", ")}; the content type was '${clip(mediaType)}'`);
    }
    const options = new URL(c.req.url).searchParams;
    const call = fn.prepare(options);
    const deadline = deadlineFor(tier, arrivedAt, {}, c.req.header(TIMEOUT_HEADER), functionDefaultMs(tier, fn.defaultDeadlineMs));
    const placed = new Map<string, PlacedModel>();
    for (const model of fn.models) placed.set(model, await placeModel(c, tier, model, undefined, arrivedAt));

    const body = await readBodyWithinBudget(c.req.raw, Math.min(limits.maxInferBodyBytes, tier.maxBatchPayloadBytes), bodyHold);
    noteUsage(c, { bytesIn: body.byteLength });
    const decoded = await timed(c, "decode", async () => call.decode(body, mediaType));
    if (Date.now() >= deadline.at) throw new HttpError(504, "the deadline passed while the body was decoded");
    const servedBy: ServedBy = [];
    const caller = { tenant: tenant.id, priority: tier.priority, deadline: deadline.at, maxQueueWaitMs: tier.maxQueueWaitMs };
    const ran = await decoded.run(functionContext(c, placed, caller, servedBy));
    const answer = await timed(c, "post", async () => ran.post());
    // Encoded once: the bytes the client gets are the ones logged, and their length is the answer's Content-Length (usage counts it).
    const encoded = new TextEncoder().encode(JSON.stringify(answer));
    const models = [...placed.values()].map((p) => p.model);
    sampleFunctionPayload(c, { name: fn.name, models, options, mediaType, media: body, answer: encoded });
    const headers = new Headers({ "content-type": "application/json" });
    if (servedBy.length > 0) headers.set(SERVED_BY_HEADER, servedBy.join(", "));
    return sizedResponse(encoded, 200, headers);
  } finally {
    bodyHold.release();
    release();
  }
}

/**
 * Times a step of the router's own work. Decoding and post-processing are synchronous, and the
 * deployed clock stands still during synchronous work, so a plain Date.now() pair would read 0:
 * timeRun reads the clock across a timer tick on each side (scheduler/run-timer.ts).
 */
async function timed<T>(c: Context<AppEnv>, name: string, step: () => Promise<T>): Promise<T> {
  const { value, ms } = await timeRun(step);
  addTiming(c, name, ms);
  return value;
}

/** `Audio/WAV; codecs=1` -> `audio/wav`; "" when there is none. */
function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/** Echoes at most 64 characters of what the caller sent. */
const clip = (text: string) => (text.length > 64 ? `${text.slice(0, 64)}...` : text);
