/**
 * @module Sampled payload logging (KServe's logger): a version uploaded with `log_payloads=<rate>`
 * has that share of its OIP inferences written to R2, request and answer, for diagnosing wrong
 * answers; a function call is sampled at the highest rate of the versions it runs and written
 * once, under the function's own prefix (its media in base64, its JSON answer). The object is
 * written in the background (waitUntil), after the answer has gone, so the logging costs the
 * request nothing but a copy of at most PAYLOAD_LOG_CAP_BYTES per side.
 *
 * Only bodies (and a function's options, its query) are logged, never headers: the API key
 * cannot end up in a log object.
 */
import type { Context } from "hono";
import type { ModelVersionRecord } from "../protocol/model-record.ts";
import type { EncodedBody } from "../protocol/oip/infer-response.ts";
import { inferenceHeaderLength } from "../protocol/http/read-body.ts";
import type { AppEnv } from "./app-env.ts";

/** Each side (request, response) is kept up to this many bytes; the rest is cut and flagged. */
export const PAYLOAD_LOG_CAP_BYTES = 1024 * 1024;
export const PAYLOAD_LOG_PREFIX = "payload-logs";
/**
 * Function calls are logged under `payload-logs/_functions/<function>/`: no model can be named
 * `_functions` (NAME_PATTERN starts with a letter or digit), so the two kinds of log never mix.
 */
export const FUNCTION_LOG_FOLDER = "_functions";

/**
 * One side of an exchange: the OIP JSON as JSON when the body was JSON and whole; the body's
 * bytes in base64 when it used the binary extension (or was a function's media); the text when
 * JSON was cut at the cap (a cut JSON document no longer parses).
 */
export type LoggedBody =
  | { encoding: "json"; body: unknown; bytes: number; truncated: false }
  | { encoding: "text"; body: string; bytes: number; truncated: boolean }
  | { encoding: "base64"; body: string; bytes: number; truncated: boolean };

export interface PayloadLogEntry {
  trace_id: string;
  model: string;
  version: string;
  tenant: string;
  at: string;
  request: LoggedBody;
  response: LoggedBody;
}

export interface FunctionPayloadLogEntry {
  trace_id: string;
  function: string;
  /** The versions the call ran, in the function's order. */
  models: { model: string; version: string }[];
  /** The call's options as its query gave them. */
  options: Record<string, string>;
  tenant: string;
  at: string;
  /** The media, in base64, with its content type. */
  request: LoggedBody & { content_type: string };
  response: LoggedBody;
}

/** One side, copied now and cut at the cap: the request's buffer is not kept alive past the answer. */
interface CopiedSide {
  bytes: Uint8Array;
  total: number;
  binary: boolean;
}

const copied = (body: Uint8Array, binary: boolean): CopiedSide => ({ bytes: body.slice(0, PAYLOAD_LOG_CAP_BYTES), total: body.byteLength, binary });

/** Math.random() is in [0, 1): a rate of 0 never logs, a rate of 1 always does. */
const sampled = (rate: number): boolean => Math.random() < rate;

/** Decides by the version's rate whether this inference is logged and, if so, writes it in the background. */
export function samplePayload(c: Context<AppEnv>, model: ModelVersionRecord, requestBody: Uint8Array, answer: EncodedBody): void {
  if (!sampled(model.logPayloads ?? 0)) return;
  const request = copied(requestBody, inferenceHeaderLength(c.req.raw) !== undefined);
  const response = copied(answer.body, answer.headerLength !== undefined);
  const at = new Date();
  const { traceId, spanId } = c.get("trace");
  const key = payloadLogKey(model.name, model.version, at, traceId, spanId);
  const entry = (): PayloadLogEntry => ({
    trace_id: traceId,
    model: model.name,
    version: model.version,
    tenant: c.get("tenant").id,
    at: at.toISOString(),
    request: loggedBody(request),
    response: loggedBody(response),
  });
  c.executionCtx.waitUntil(writeEntry(c.env, key, entry));
}

export interface FunctionCallLog {
  name: string;
  models: readonly ModelVersionRecord[];
  options: URLSearchParams;
  mediaType: string;
  media: Uint8Array;
  /** The JSON answer's bytes, as sent. */
  answer: Uint8Array;
}

/**
 * Decides by the highest rate of the versions a function call ran whether it is logged (one draw:
 * a call that runs a logged model is logged at that model's rate at least) and, if so, writes it
 * once in the background.
 */
export function sampleFunctionPayload(c: Context<AppEnv>, call: FunctionCallLog): void {
  if (!sampled(Math.max(0, ...call.models.map((m) => m.logPayloads ?? 0)))) return;
  const request = copied(call.media, true);
  const response = copied(call.answer, false);
  const at = new Date();
  const { traceId, spanId } = c.get("trace");
  const key = functionPayloadLogKey(call.name, at, traceId, spanId);
  const entry = (): FunctionPayloadLogEntry => ({
    trace_id: traceId,
    function: call.name,
    models: call.models.map((m) => ({ model: m.name, version: m.version })),
    options: Object.fromEntries(call.options),
    tenant: c.get("tenant").id,
    at: at.toISOString(),
    request: { ...loggedBody(request), content_type: call.mediaType },
    response: loggedBody(response),
  });
  c.executionCtx.waitUntil(writeEntry(c.env, key, entry));
}

/**
 * An entry's object: the trace id and this router's own span id, both in the answer's
 * `traceparent`. The trace id alone is the client's to choose (it continues the caller's trace),
 * so two requests sending one traceparent would write one object, and a tenant could overwrite
 * another's entry; the span id is made here for each request.
 */
export function payloadLogKey(model: string, version: string, at: Date, traceId: string, spanId: string): string {
  return `${PAYLOAD_LOG_PREFIX}/${model}/${version}/${at.toISOString().slice(0, 10)}/${traceId}-${spanId}.json`;
}

export function functionPayloadLogKey(name: string, at: Date, traceId: string, spanId: string): string {
  return `${PAYLOAD_LOG_PREFIX}/${FUNCTION_LOG_FOLDER}/${name}/${at.toISOString().slice(0, 10)}/${traceId}-${spanId}.json`;
}

async function writeEntry(env: Env, key: string, entry: () => PayloadLogEntry | FunctionPayloadLogEntry): Promise<void> {
  try {
    // Encoding waits until the answer has been handed back (the await yields first).
    await Promise.resolve();
    await env.MODELS.put(key, JSON.stringify(entry()), { httpMetadata: { contentType: "application/json" } });
  } catch (error) {
    // A lost log object must never turn into a failed inference; it is only reported.
    console.error(`payload log ${key} failed`, error);
  }
}

function loggedBody(side: CopiedSide): LoggedBody {
  const truncated = side.total > side.bytes.byteLength;
  if (side.binary) return { encoding: "base64", body: base64(side.bytes), bytes: side.total, truncated };
  const text = new TextDecoder().decode(side.bytes);
  if (truncated) return { encoding: "text", body: text, bytes: side.total, truncated: true };
  try {
    return { encoding: "json", body: JSON.parse(text), bytes: side.total, truncated: false };
  } catch {
    // The route only answers bodies that parsed; kept as text should that ever not hold.
    return { encoding: "text", body: text, bytes: side.total, truncated: false };
  }
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  // In chunks: String.fromCharCode over a whole megabyte would overflow the argument limit.
  for (let i = 0; i < bytes.byteLength; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
