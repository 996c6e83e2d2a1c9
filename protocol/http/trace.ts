/**
 * @module The trace middleware both servers use: the request's trace context (the caller's
 * `traceparent` continued under this server's own span id, or a new trace when it sent none or a
 * malformed one) is on the context for the routes and the log line, and goes back to the caller
 * in the answer's `traceparent`, error answers included.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { TRACEPARENT_HEADER } from "../headers.ts";
import { childSpan, continueTrace, formatTraceparent, type TraceContext } from "../trace-context.ts";

export interface TraceVariables {
  trace: TraceContext;
}

export const traceRequests = () =>
  createMiddleware<{ Variables: TraceVariables }>(async (c, next) => {
    const trace = continueTrace(c.req.header(TRACEPARENT_HEADER));
    c.set("trace", trace);
    await next();
    // A WebSocket upgrade's answer cannot take headers; the stream's trace lives in its log line only.
    if (c.res.status !== 101) c.res.headers.set(TRACEPARENT_HEADER, formatTraceparent(trace));
  });

/** The `traceparent` for a call this request makes to the next hop: its trace, a new span id. */
export function nextHopTraceparent(c: Context): string | undefined {
  const trace = c.get("trace") as TraceContext | undefined;
  return trace ? formatTraceparent(childSpan(trace)) : undefined;
}
