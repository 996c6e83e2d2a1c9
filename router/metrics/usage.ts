/**
 * @module Per-tenant usage in this isolate since its last flush: one sum per UTC day, tenant and
 * model, in memory (no I/O on the request path). It leaves with the metrics batch (aggregate.ts
 * takeBatch), so it reaches the Metrics object's SQLite by the same once-only flush.
 *
 * The routes note what only they know (`noteUsage`: the body bytes read, the batch rows that
 * passed the checks); record.ts adds the request, its inference time and, when the answer's body
 * has been written out, its bytes.
 */
import type { Context } from "hono";
import { noUsage, USAGE_FIGURES, type UsageFigures, type UsageRow } from "../../durable-objects/metrics/usage-contract.ts";
import type { AppEnv } from "../app-env.ts";
import { declaredLength } from "../../protocol/http/known-length.ts";

let sums = new Map<string, UsageRow>();

/** UTC day of a time, YYYY-MM-DD. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}

/** Adds figures to the day's row of a tenant and model. */
export function addUsage(day: string, tenant: string, model: string, figures: Partial<UsageFigures>): void {
  const key = `${day}\n${tenant}\n${model}`;
  let row = sums.get(key);
  if (!row) sums.set(key, (row = { day, tenant, model, ...noUsage() }));
  for (const figure of USAGE_FIGURES) row[figure] += figures[figure] ?? 0;
}

/** What a route knows of a counted request's usage: the body bytes it read, the rows that passed the checks. */
export function noteUsage(c: Context<AppEnv>, figures: { bytesIn?: number; rows?: number }): void {
  const noted = c.get("usage");
  if (!noted) return;
  if (figures.bytesIn !== undefined) noted.bytesIn = figures.bytesIn;
  if (figures.rows !== undefined) noted.rows = figures.rows;
}

export function hasUsage(): boolean {
  return sums.size > 0;
}

/** The rows since the last call, and a fresh start. */
export function takeUsage(): UsageRow[] {
  const rows = [...sums.values()];
  sums = new Map();
  return rows;
}

/**
 * The answer's body bytes for `done`. An answer made whole (an OIP answer, a function's JSON, an
 * error: protocol/http/known-length.ts) declares its length, which is counted at once: no stream
 * stands between it and the client, so it keeps its Content-Length and costs no JS per chunk. A
 * body of unknown length (a stream) is counted on the way out, `done` called when it ends; a
 * client that goes away before then leaves its bytes uncounted (the request itself is counted
 * already). An answer without a body reports 0 at once.
 */
export function countBytesOut(response: Response, done: (bytes: number) => void): Response {
  if (!response.body || response.webSocket) {
    done(0);
    return response;
  }
  const declared = declaredLength(response);
  if (declared !== undefined) {
    done(declared);
    return response;
  }
  let bytes = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush: () => done(bytes),
  });
  return new Response(response.body.pipeThrough(counter), response);
}
