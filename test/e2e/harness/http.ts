/**
 * @module The HTTP calls every end-to-end file makes against the real stack: a bounded JSON call
 * with a tenant key, one inference with binary tensors both ways and the deadline header, an
 * origin's ready report, and a tenant with a fresh key. Admin calls and uploads go through
 * scripts/lib/admin-client.ts, the client the CLIs use.
 */
import type { AdminClient, Tier } from "../../../scripts/lib/admin-client.ts";
import { decodeInferResponse, encodeInferRequest } from "../../../protocol/oip/infer-response.ts";
import type { Tensor } from "../../../protocol/oip/tensor.ts";

/** Client timeouts are the request's deadline plus this: anything slower counts as a hang. */
export const HANG_SLACK_MS = 2_000;
const CALL_TIMEOUT_MS = 60_000;

export interface CallInit extends Omit<RequestInit, "body"> {
  /** Sent as `Authorization: Bearer <key>`. */
  key?: string;
  /** A raw body; a string is sent as JSON. */
  body?: string | Uint8Array;
  timeoutMs?: number;
}

/** `fetch(baseUrl + path)` with a key, a JSON content type for string bodies, and a time limit. */
export function call(baseUrl: string, path: string, init: CallInit = {}): Promise<Response> {
  const { key, timeoutMs = CALL_TIMEOUT_MS, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (key !== undefined) headers.set("authorization", `Bearer ${key}`);
  if (typeof rest.body === "string" && !headers.has("content-type")) headers.set("content-type", "application/json");
  return fetch(`${baseUrl}${path}`, { ...rest, headers, signal: AbortSignal.timeout(timeoutMs) });
}

/** The `error` of a `{"error": "..."}` answer, else the text itself. */
export function errorText(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON: the text says it
  }
  return text;
}

export interface Reply {
  status: number;
  headers: Headers;
  output?: Float32Array;
  error?: string;
  elapsedMs: number;
  /** No answer within the deadline plus HANG_SLACK_MS. */
  hung: boolean;
  /** The x-served-by header: `edge:<region>/<replica>` or `origin:<id>`. */
  servedBy: string;
  /** performance.now() when it was sent. */
  startedAt: number;
}

export const serverTiming = (reply: Reply): string => reply.headers.get("server-timing") ?? "";

/** One inference through the edge, binary both ways, with a deadline the edge must keep; never rejects on a hang. */
export async function infer(baseUrl: string, key: string, model: string, input: Tensor, deadlineMs: number): Promise<Reply> {
  const { body, headerLength } = encodeInferRequest({ inputs: [input], outputs: [{ name: "output", binary: true }] }, { binary: true });
  const headers: Record<string, string> = {
    authorization: `Bearer ${key}`,
    "content-type": "application/octet-stream",
    "x-hotpath-timeout-ms": String(deadlineMs),
  };
  if (headerLength !== undefined) headers["inference-header-content-length"] = String(headerLength);
  const startedAt = performance.now();
  try {
    const response = await fetch(`${baseUrl}/v2/models/${model}/infer`, {
      method: "POST",
      body,
      headers,
      signal: AbortSignal.timeout(deadlineMs + HANG_SLACK_MS),
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const reply = {
      status: response.status,
      headers: response.headers,
      elapsedMs: performance.now() - startedAt,
      hung: false,
      servedBy: response.headers.get("x-served-by") ?? "",
      startedAt,
    };
    if (response.status !== 200) return { ...reply, error: errorText(new TextDecoder().decode(bytes)) };
    const length = response.headers.get("inference-header-content-length");
    const result = decodeInferResponse(bytes, length === null ? undefined : Number(length));
    return { ...reply, output: result.outputs.find((o) => o.name === "output")?.data as Float32Array | undefined };
  } catch (error) {
    if (error instanceof Error && error.name === "TimeoutError") {
      return { status: 0, headers: new Headers(), elapsedMs: performance.now() - startedAt, hung: true, servedBy: "", startedAt, error: "client timeout" };
    }
    throw error;
  }
}

export interface OriginReport {
  ready: boolean;
  load?: { queued: number; running: number };
  models: { name: string; version: string; state: string; source?: string }[];
}

/** An origin's `GET /v2/health/ready` body (200 or 503 alike), as the holder of its token gets it. */
export async function originHealth(url: string, token: string): Promise<OriginReport> {
  const response = await fetch(`${url}/v2/health/ready`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5_000) });
  return (await response.json()) as OriginReport;
}

/** Whether the origin at `url` reports `name` ready; false when it does not answer. */
export async function modelReadyOn(url: string, name: string, token: string): Promise<boolean> {
  try {
    return (await originHealth(url, token)).models.some((m) => m.name === name && m.state === "ready");
  } catch {
    return false;
  }
}

/** A tenant of `tier` that may use every model, and a new key for it. */
export async function tenantKey(admin: AdminClient, tenant: string, tier: Tier): Promise<string> {
  await admin.putTenant(tenant, tier, ["*"]);
  return (await admin.createKey(tenant)).key;
}
