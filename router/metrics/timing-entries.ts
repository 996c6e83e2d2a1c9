/**
 * @module The model calls of one request, read back from its Server-Timing entries (the strings
 * hono/timing collects on the context, protocol/http/server-timing.ts), so the metrics need no
 * hook of their own in the inference path: `queue`, `infer`, `load`, `batch` and `replica` say
 * how a call ran on its host; a function's pipeline names each call's model first (`model`);
 * `spill` says the call went from the edge to the pool, and why; `variant` and `degraded` which
 * variant ran it, and why.
 */

export interface ModelCallTiming {
  /** The model named by a `model` entry; undefined for a request's only call (the route's model). */
  model: string | undefined;
  queueMs?: number;
  inferMs?: number;
  loadMs?: number;
  batchSize?: number;
  /** `<region>/<replica>` of the host that answered. */
  replica?: string;
  spill?: string;
  /** The variant that ran the call (router/routes/variant-serve.ts), and why when it was a degradation. */
  variant?: string;
  degraded?: string;
}

const ENTRY = /^([A-Za-z0-9_-]+)(?:;dur=([0-9.eE+-]+))?(?:;desc="((?:[^"\\]|\\.)*)")?$/;

/** The calls in the order they were made; entries of no call (auth, decode, post, total) are skipped. */
export function modelCallsOf(entries: readonly string[] | undefined): ModelCallTiming[] {
  const calls: ModelCallTiming[] = [];
  let current: ModelCallTiming = { model: undefined };
  const started = () => Object.keys(current).length > 1;
  for (const entry of entries ?? []) {
    const match = ENTRY.exec(entry);
    if (!match) continue;
    const [, name, dur, desc] = match;
    const ms = dur === undefined ? undefined : Number(dur);
    switch (name) {
      case "model":
        if (started()) calls.push(current);
        current = { model: desc };
        break;
      case "queue":
        current.queueMs = ms;
        break;
      case "infer":
        current.inferMs = ms;
        break;
      case "load":
        current.loadMs = ms;
        break;
      case "batch":
        current.batchSize = Number(desc);
        break;
      case "replica":
        current.replica = desc;
        break;
      case "spill":
        current.spill = desc;
        break;
      case "variant":
        current.variant = desc;
        break;
      case "degraded":
        current.degraded = desc;
        break;
    }
  }
  if (started()) calls.push(current);
  return calls;
}
