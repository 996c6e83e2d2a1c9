/**
 * @module Inference on the origin pool over OIP v2 (binary tensors, the `schedule_policy`
 * parameters priority and timeout), so any OIP server works as an origin. A failed origin
 * (network error, 5xx, garbage) trips its breaker and the request goes to another, but only
 * while its deadline allows; a client's mistake (4xx) is passed back and never retried.
 */
import type { HostLoad } from "../../durable-objects/model-host/contract.ts";
import type { ModelVersionRecord } from "../../protocol/model-record.ts";
import { HttpError, type ErrorStatus } from "../../protocol/errors.ts";
import { INFERENCE_HEADER_LENGTH_HEADER, LOAD_HEADER, TENANT_HEADER } from "../../protocol/headers.ts";
import { decodeInferResponse, encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { loadFrom } from "./origin-load.ts";
import { chooseOrigin, expectedWaitMs, originPool, poolRetryAfterSeconds, recordSuccess, type OriginState } from "./pool.ts";

/** A timeout counts against an origin's breaker only if the request gave it this many times its expected wait... */
const AMPLE_TIME_FACTOR = 3;
/** ...plus this much. */
const AMPLE_TIME_SLACK_MS = 100;

export interface OriginCall {
  model: ModelVersionRecord;
  inputs: Tensor[];
  outputNames: string[];
  tenant: string;
  priority: number;
  /** Absolute, epoch milliseconds. */
  deadline: number;
}

export interface OriginAnswer {
  outputs: Tensor[];
  origin: string;
  roundTripMs: number;
  attempts: number;
}

export function poolConfigured(env: Env): boolean {
  return originPool(env).length > 0;
}

export async function inferOnPool(env: Env, call: OriginCall): Promise<OriginAnswer> {
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
    const outcome = await attempt(env, origin, call, remainingMs);
    if (outcome.answer) return { ...outcome.answer, attempts: tried.size };
    lastError = outcome.error;
    if (!outcome.retry) throw outcome.error;
  }
}

type Outcome = { answer: Omit<OriginAnswer, "attempts">; error?: undefined; retry?: undefined } | { answer?: undefined; error: HttpError; retry: boolean };

async function attempt(env: Env, origin: OriginState, call: OriginCall, remainingMs: number): Promise<Outcome> {
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
  if (headerLength !== undefined) headers[INFERENCE_HEADER_LENGTH_HEADER] = String(headerLength);
  const url = `${origin.config.url}/v2/models/${encodeURIComponent(call.model.name)}/versions/${encodeURIComponent(call.model.version)}/infer`;
  const started = Date.now();
  const expectedAtStart = expectedWaitMs(origin, call.priority, started);
  origin.outstanding += 1;
  try {
    const response = await fetch(url, { method: "POST", body, headers, signal: AbortSignal.timeout(remainingMs) });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const load = parseLoad(response.headers.get(LOAD_HEADER));
    if (response.ok) {
      const raw = response.headers.get(INFERENCE_HEADER_LENGTH_HEADER);
      const result = decodeInferResponse(bytes, raw === null ? undefined : Number(raw));
      recordSuccess(origin, Date.now() - started, load);
      return { answer: { outputs: result.outputs, origin: origin.config.id, roundTripMs: Date.now() - started } };
    }
    const message = errorMessage(bytes) ?? `origin ${origin.config.id} answered ${response.status}`;
    if (response.status >= 400 && response.status < 500 && response.status !== 404 && response.status !== 429) {
      recordSuccess(origin, Date.now() - started, load); // a healthy origin refusing the input
      return { error: new HttpError(response.status as ErrorStatus, message), retry: false };
    }
    if (response.status === 504) {
      origin.breaker.released();
      return { error: new HttpError(504, message), retry: false };
    }
    if (response.status === 503 || response.status === 429 || response.status === 404) {
      // Busy or not serving this model: not a fault of its health, but another may take it.
      origin.breaker.released();
      return { error: new HttpError(503, message, Number(response.headers.get("retry-after")) || 1), retry: true };
    }
    origin.breaker.failed();
    return { error: new HttpError(503, `origin ${origin.config.id} failed (${response.status})`, 1), retry: true };
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    // A timeout is the origin's fault only when it had ample time: a request sent with little of
    // its deadline left (a late spill) says nothing about the origin's health.
    if (!timedOut || remainingMs >= AMPLE_TIME_FACTOR * expectedAtStart + AMPLE_TIME_SLACK_MS) origin.breaker.failed();
    else origin.breaker.released();
    if (timedOut) return { error: new HttpError(504, `origin ${origin.config.id} did not answer before the deadline`), retry: false };
    return { error: new HttpError(503, `origin ${origin.config.id} is unreachable or sent garbage`, 1), retry: true };
  } finally {
    origin.outstanding -= 1;
  }
}

function parseLoad(header: string | null): HostLoad | undefined {
  if (!header) return undefined;
  try {
    return loadFrom(JSON.parse(header));
  } catch {
    return undefined;
  }
}

function errorMessage(bytes: Uint8Array): string | undefined {
  try {
    const body = JSON.parse(new TextDecoder().decode(bytes)) as { error?: unknown };
    return typeof body.error === "string" ? body.error : undefined;
  } catch {
    return undefined;
  }
}
