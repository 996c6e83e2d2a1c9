/**
 * @module Sampled payload logging (KServe's logger): a version uploaded with `log_payloads=<rate>`
 * has that share of its OIP inferences written to R2, request and answer, for diagnosing wrong
 * answers. The object is written in the background (waitUntil), after the answer has gone, so
 * the logging costs the request nothing but a copy of at most PAYLOAD_LOG_CAP_BYTES per side.
 *
 * Only bodies are logged, never headers: the API key cannot end up in a log object.
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
 * One side of an exchange: the OIP JSON as JSON when the body was JSON and whole; the body's
 * bytes in base64 when it used the binary extension; the text when JSON was cut at the cap
 * (a cut JSON document no longer parses).
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

/** Decides by the version's rate whether this inference is logged and, if so, writes it in the background. */
export function samplePayload(c: Context<AppEnv>, model: ModelVersionRecord, requestBody: Uint8Array, answer: EncodedBody): void {
  const rate = model.logPayloads ?? 0;
  // Math.random() is in [0, 1): a rate of 0 never logs, a rate of 1 always does.
  if (!(Math.random() < rate)) return;
  // Copies, cut at the cap, taken now: the request's buffer is not kept alive past the answer.
  const request = { bytes: requestBody.slice(0, PAYLOAD_LOG_CAP_BYTES), total: requestBody.byteLength, binary: inferenceHeaderLength(c.req.raw) !== undefined };
  const response = { bytes: answer.body.slice(0, PAYLOAD_LOG_CAP_BYTES), total: answer.body.byteLength, binary: answer.headerLength !== undefined };
  const at = new Date();
  const traceId = c.get("trace").traceId;
  const key = payloadLogKey(model.name, model.version, at, traceId);
  const entry = () => ({
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

export function payloadLogKey(model: string, version: string, at: Date, traceId: string): string {
  return `${PAYLOAD_LOG_PREFIX}/${model}/${version}/${at.toISOString().slice(0, 10)}/${traceId}.json`;
}

async function writeEntry(env: Env, key: string, entry: () => PayloadLogEntry): Promise<void> {
  try {
    // Encoding waits until the answer has been handed back (the await yields first).
    await Promise.resolve();
    await env.MODELS.put(key, JSON.stringify(entry()), { httpMetadata: { contentType: "application/json" } });
  } catch (error) {
    // A lost log object must never turn into a failed inference; it is only reported.
    console.error(`payload log ${key} failed`, error);
  }
}

function loggedBody(side: { bytes: Uint8Array; total: number; binary: boolean }): LoggedBody {
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
