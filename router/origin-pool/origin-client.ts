/**
 * @module Inference on the origin pool over OIP v2 (binary tensors, the `schedule_policy`
 * parameters priority and timeout), so any OIP server works as an origin. A failed origin
 * (network error, 5xx, garbage) trips its breaker and the request goes to another, but only
 * while its deadline allows; a client's mistake (4xx) is passed back and never retried.
 * Answers are not trusted: an origin that answers more bytes than the cap, outputs other than
 * those asked or at odds with the model's signature, or refuses the edge's token (401/403) has
 * failed, and the tenant sees 503, never the origin's word that a key is bad.
 */
import { servedVersion, type ModelVersionRecord } from "../../protocol/model-record.ts";
import { HttpError } from "../../protocol/errors.ts";
import { readBodyLimited } from "../../protocol/http/read-body.ts";
import { errorFromResponse } from "../../protocol/http/error-response.ts";
import { INFERENCE_HEADER_LENGTH_HEADER, LOAD_HEADER, TENANT_HEADER, TRACEPARENT_HEADER } from "../../protocol/headers.ts";
import { decodeInferResponse, encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import type { SchedulerLoad } from "../../scheduler/contract.ts";
import { loadFrom } from "./origin-load.ts";
import { limitsOf, type LimitVars } from "../limits.ts";
import { chooseOrigin, expectedWaitMs, originPool, poolRetryAfterSeconds, recordSuccess, type OriginState, type PoolEnv } from "./pool.ts";

/** A timeout counts against an origin's breaker only if the request gave it this many times its expected wait... */
const AMPLE_TIME_FACTOR = 3;
/** ...plus this much. */
const AMPLE_TIME_SLACK_MS = 100;
/**
 * An answer may be this many times the largest request body the edge reads (MAX_INFER_BODY_BYTES):
 * the router holds it and its re-encoding for the client at once, in an isolate of 128 MB.
 */
const RESPONSE_BODY_FACTOR = 2;

export interface OriginCall {
  model: ModelVersionRecord;
  inputs: Tensor[];
  outputNames: string[];
  tenant: string;
  priority: number;
  /** Absolute, epoch milliseconds. */
  deadline: number;
  /** W3C traceparent the origin is called with (the router's call as the parent span). */
  traceparent?: string;
}

export interface OriginAnswer {
  outputs: Tensor[];
  origin: string;
  roundTripMs: number;
  attempts: number;
}

/** What inferOnPool reads of the Worker's env (the whole Env fits; Node tests pass the pool's vars). */
export type OriginClientEnv = PoolEnv & LimitVars;

export async function inferOnPool(env: OriginClientEnv, call: OriginCall): Promise<OriginAnswer> {
  const pool = originPool(env);
  if (pool.length === 0) throw new HttpError(503, `model '${call.model.name}' runs on the origin pool, and no origin is configured`, 30);
  const tried = new Set<string>();
  let lastError: HttpError | undefined;
  for (;;) {
    const remainingMs = call.deadline - Date.now();
    if (remainingMs <= 0) throw lastError?.status === 504 ? lastError : new HttpError(504, "the deadline passed before an origin answered");
    const origin = chooseOrigin(pool, tried, call.model, call.priority);
    if (!origin) throw lastError ?? new HttpError(503, "no origin is available now", poolRetryAfterSeconds(pool));
    tried.add(origin.config.id);
    try {
      return { ...(await attempt(env, origin, call, remainingMs)), attempts: tried.size };
    } catch (error) {
      lastError = HttpError.from(error);
      // 503 says "not here, not now": another origin may take it. A client's mistake (4xx) or the
      // deadline (504) would be the same anywhere.
      if (lastError.status !== 503) throw lastError;
    }
  }
}

/** One try on one origin; throws an HttpError whose status says whether another origin may take it (503). */
async function attempt(env: OriginClientEnv, origin: OriginState, call: OriginCall, remainingMs: number): Promise<Omit<OriginAnswer, "attempts">> {
  const { body, headerLength } = encodeInferRequest(
    {
      inputs: call.inputs,
      outputs: call.outputNames.map((name) => ({ name, binary: true })),
      parameters: { priority: call.priority, timeout: Math.max(1, Math.floor(remainingMs * 1000)) },
    },
    { binary: true },
  );
  const headers: Record<string, string> = {
    authorization: `Bearer ${env.ORIGIN_TOKEN}`,
    "content-type": "application/octet-stream",
    [TENANT_HEADER]: call.tenant,
  };
  if (call.traceparent) headers[TRACEPARENT_HEADER] = call.traceparent;
  if (headerLength !== undefined) headers[INFERENCE_HEADER_LENGTH_HEADER] = String(headerLength);
  // A variant has a served name of its own on the origins (`<version>~<variant>`); the OIP path is the same.
  const url = `${origin.config.url}/v2/models/${encodeURIComponent(call.model.name)}/versions/${encodeURIComponent(servedVersion(call.model))}/infer`;
  const started = Date.now();
  const expectedAtStart = expectedWaitMs(origin, call.priority, started);
  origin.outstanding += 1;
  let response: Response;
  let bytes: Uint8Array;
  try {
    response = await fetch(url, { method: "POST", body, headers, signal: AbortSignal.timeout(remainingMs) });
    if (!response.ok) throw await refusal(origin, response, started);
    bytes = await readAnswer(origin, response, RESPONSE_BODY_FACTOR * limitsOf(env).maxInferBodyBytes);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    // A timeout is the origin's fault only when it had ample time: a request sent with little of
    // its deadline left (a late spill) says nothing about the origin's health.
    if (!timedOut || remainingMs >= AMPLE_TIME_FACTOR * expectedAtStart + AMPLE_TIME_SLACK_MS) origin.breaker.failed();
    else origin.breaker.released();
    if (timedOut) throw new HttpError(504, `origin ${origin.config.id} did not answer before the deadline`);
    throw new HttpError(503, `origin ${origin.config.id} is unreachable`, 1);
  } finally {
    origin.outstanding -= 1;
  }
  try {
    const raw = response.headers.get(INFERENCE_HEADER_LENGTH_HEADER);
    let outputs: Tensor[];
    try {
      outputs = decodeInferResponse(bytes, raw === null ? undefined : Number(raw)).outputs;
    } catch {
      // What the origin said is not passed on: its text is no business of the tenant's.
      throw new Error("an answer that is not an inference response");
    }
    outputs = outputsAsAsked(outputs, call);
    recordSuccess(origin, Date.now() - started, parseLoad(response.headers.get(LOAD_HEADER)));
    return { outputs, origin: origin.config.id, roundTripMs: Date.now() - started };
  } catch (error) {
    origin.breaker.failed();
    throw new HttpError(503, `origin ${origin.config.id} sent ${error instanceof Error ? error.message : "a bad answer"}`, 1);
  }
}

/** The answer's body, up to `limitBytes`; more is the origin's failure (a 413 here would blame the client). */
async function readAnswer(origin: OriginState, response: Response, limitBytes: number): Promise<Uint8Array> {
  try {
    return await readBodyLimited(response, limitBytes);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error; // network or deadline: the caller's handling
    origin.breaker.failed();
    throw new HttpError(503, `origin ${origin.config.id} sent an answer over the limit of ${limitBytes} bytes`, 1);
  }
}

/**
 * The outputs in the order asked, once it is checked they are exactly those asked and agree with
 * the model's signature (datatype, rank, fixed dimensions); throws what is wrong otherwise. An
 * origin serving another model under this name, or a broken one, must not reach the tenant.
 */
function outputsAsAsked(outputs: Tensor[], call: OriginCall): Tensor[] {
  const short = (name: string) => JSON.stringify(name.slice(0, 64));
  const shapeText = (shape: readonly number[]) => `[${shape.join(",")}]`;
  if (outputs.length !== call.outputNames.length) {
    throw new Error(`${outputs.length} outputs for the ${call.outputNames.length} asked (${call.outputNames.join(", ")})`);
  }
  return call.outputNames.map((name) => {
    const tensor = outputs.find((o) => o.name === name);
    if (!tensor) throw new Error(`no output '${name}', but ${outputs.map((o) => short(o.name)).join(", ")}`);
    const spec = call.model.outputs.find((s) => s.name === name);
    if (!spec) return tensor; // asked outputs were checked against the signature before the call
    if (tensor.datatype !== spec.datatype) throw new Error(`output '${name}' as ${tensor.datatype}; the model's signature says ${spec.datatype}`);
    // An empty signature shape says nothing of the rank (a scalar, or a shape the model does not declare).
    const fits = spec.shape.length === 0 || (tensor.shape.length === spec.shape.length && spec.shape.every((dim, k) => dim < 0 || tensor.shape[k] === dim));
    if (!fits) throw new Error(`output '${name}' of shape ${shapeText(tensor.shape)}; the model's signature says ${shapeText(spec.shape)}`);
    return tensor;
  });
}

/**
 * What an origin's error answer means for the request and for the origin's breaker. 401/403 say
 * the origin refused the edge's ORIGIN_TOKEN: our fault, not the tenant's (whose key the edge
 * checked), so it is a failed origin. Another 4xx other than 404/429 is the client's mistake,
 * passed back as it is (the origin is healthy). Busy (503, 429) or not serving this version (404)
 * are no fault of its health, but another origin may take it: 503. 504 is the deadline. Anything
 * else is a failed origin: its breaker counts it, and another origin may take the request.
 */
async function refusal(origin: OriginState, response: Response, started: number): Promise<HttpError> {
  const { status } = response;
  const error = await errorFromResponse(response, `origin ${origin.config.id}`);
  if (status === 401 || status === 403) {
    // For the operator: the token is wrong or missing on one side. The tenant never sees this.
    console.error(`origin ${origin.config.id} refused the edge's credentials (${status}: ${error.message.slice(0, 200)}): check ORIGIN_TOKEN on both sides`);
  } else if (status >= 400 && status < 500 && status !== 404 && status !== 429) {
    recordSuccess(origin, Date.now() - started, parseLoad(response.headers.get(LOAD_HEADER)));
    return new HttpError(HttpError.isErrorStatus(status) ? status : 400, error.message);
  }
  if (status === 504) {
    origin.breaker.released();
    return new HttpError(504, error.message);
  }
  if (status === 503 || status === 429 || status === 404) {
    origin.breaker.released();
    return new HttpError(503, error.message, error.retryAfterSeconds ?? 1);
  }
  origin.breaker.failed();
  return new HttpError(503, `origin ${origin.config.id} failed (${status})`, 1);
}

function parseLoad(header: string | null): SchedulerLoad | undefined {
  if (!header) return undefined;
  try {
    return loadFrom(JSON.parse(header));
  } catch {
    return undefined;
  }
}
