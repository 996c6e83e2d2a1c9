/**
 * @module The one place errors become responses: an HttpError is the client's mistake or a
 * deliberate refusal and keeps its status and message; anything else is our fault, logged here
 * and answered with a generic 500 that leaks nothing.
 */
import type { Context } from "hono";
import { HttpError } from "../errors.ts";

export function errorResponse(error: HttpError): Response {
  const headers = new Headers({ "content-type": "application/json" });
  if (error.retryAfterSeconds !== undefined) headers.set("retry-after", String(Math.max(1, Math.ceil(error.retryAfterSeconds))));
  return new Response(JSON.stringify({ error: error.message }), { status: error.status, headers });
}

export function onError(error: Error, c: Context): Response {
  if (error instanceof HttpError) return errorResponse(error);
  console.error(`unhandled error on ${c.req.method} ${new URL(c.req.url).pathname}`, error);
  return errorResponse(new HttpError(500, "internal error"));
}

export function onNotFound(c: Context): Response {
  return errorResponse(new HttpError(404, `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
}
