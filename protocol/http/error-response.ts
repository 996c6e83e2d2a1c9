/**
 * @module HttpError over HTTP, both ways. Out: the one place errors become responses, for the
 * edge and the origin alike: an HttpError keeps its status, message and Retry-After; anything
 * else is our fault, logged here and answered with a generic 500 that leaks nothing. In: an error
 * answer from another server (an origin, the edge) read back into the HttpError it stands for.
 */
import type { Context } from "hono";
import { HttpError } from "../errors.ts";
import { sizedJson } from "./known-length.ts";

/**
 * `details` go into the body beside `error`, for answers whose status is the answer and whose body
 * says more (an OIP ready probe that is not ready lists what it waits for).
 *
 * @example return errorResponse(new HttpError(503, "busy", 2)) // 503, Retry-After: 2, {"error": "busy"}
 */
export function errorResponse(error: HttpError, details: Record<string, unknown> = {}): Response {
  const headers = new Headers();
  if (error.retryAfterSeconds !== undefined) headers.set("retry-after", String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
  return sizedJson({ error: error.message, ...details }, error.status, headers);
}

export function onError(error: Error, c: Context): Response {
  if (error instanceof HttpError) {
    // A 500 we threw on purpose still means a fault of ours: keep it in the log.
    if (error.status === 500) console.error(`${c.req.method} ${new URL(c.req.url).pathname} failed: ${error.message}`);
    return errorResponse(error);
  }
  console.error(`unhandled error on ${c.req.method} ${new URL(c.req.url).pathname}`, error);
  return errorResponse(new HttpError(500, "internal error"));
}

export function onNotFound(c: Context): Response {
  return errorResponse(new HttpError(404, `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
}

/**
 * The `{"error": ...}` message of an error answer; the start of its text when another server
 * (any OIP server can be an origin) answers in another shape, or undefined when it has no body.
 */
export function errorMessageOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === "string") return parsed.error;
  } catch {
    // not JSON: show the start of it
  }
  return body.trim() === "" ? undefined : body.slice(0, 200);
}

/** An error answer is read this far at most: only its message is wanted, and another server's body may be any size. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * A non-2xx answer as the HttpError it carries: its status when hotpath knows it (else 502), its
 * message and its Retry-After. `from` names who answered, for a body that says nothing. Reads the body.
 */
export async function errorFromResponse(response: Response, from: string): Promise<HttpError> {
  const message = errorMessageOf(await textUpTo(response, MAX_ERROR_BODY_BYTES).catch(() => "")) ?? `${from} answered ${response.status}`;
  const status = HttpError.isErrorStatus(response.status) ? response.status : 502;
  const retryAfter = Number(response.headers.get("retry-after"));
  return new HttpError(status, message, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
}

/** The start of a body as text: at most `maxBytes`, the rest is not read (the stream is cancelled). */
async function textUpTo(response: Response, maxBytes: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    total += value.byteLength;
    text += decoder.decode(value.subarray(0, Math.max(0, value.byteLength - (total - maxBytes))), { stream: true });
    if (total >= maxBytes) {
      await reader.cancel().catch(() => undefined);
      return text + decoder.decode();
    }
  }
}
