/**
 * @module Load generation over node:http with keep-alive sockets (lighter on a 2-core machine
 * than fetch): one timed request, a closed loop (N clients, each sends when its last answer
 * came), and an open loop (Poisson arrivals at a fixed rate, whatever the answers do). Every
 * request has a client timeout and every loop is bounded in requests and time.
 */
import { SERVED_BY_HEADER } from "../../protocol/headers.ts";
import { Agent, request as httpRequest } from "node:http";
import { mulberry32 } from "../models/mlp.ts";

export interface RequestSpec {
  path: string;
  body: Uint8Array;
  headers: Record<string, string>;
  /** Client-side limit; the request counts as `timeout` (status 0) past it. */
  timeoutMs: number;
  /** Free-form label carried into the result (e.g. the tier). */
  label?: string;
  /** POST unless said otherwise; a GET sends no body (the health routes, the floor of a CPU measurement). */
  method?: "GET" | "POST";
}

export interface Outcome {
  label: string;
  /** HTTP status; 0 when no answer came (timeout or network error). */
  status: number;
  /** Milliseconds from the start of the loop to when the request was sent. */
  sentAt: number;
  latencyMs: number;
  /** Retry-After header as given, if any. */
  retryAfter: string | undefined;
  /** Server-Timing `batch` description (rows in the run), when the answer had one. */
  batch: number | undefined;
  /** The x-served-by header (`edge:<region>/<replica>` or `origin:<id>`), when the answer had one. */
  servedBy?: string | undefined;
  /** Server-Timing durations by metric name (auth, host, queue, infer, total), ms. */
  server: Record<string, number> | undefined;
  /** The Server-Timing header as sent, for answers that repeat an entry (a function's model calls). */
  timing?: string | undefined;
  /** timeout | network error text; undefined when an answer came. */
  error: string | undefined;
  /** Error message from the body of non-2xx answers (first 200 chars). */
  message: string | undefined;
}

export function newAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, keepAliveMsecs: 10_000 });
}

/** Sends one request; never rejects. `signal` aborting counts as a client error (status 0). */
export function send(baseUrl: string, agent: Agent, spec: RequestSpec, origin = performance.now(), signal?: AbortSignal): Promise<Outcome> {
  const started = performance.now();
  const sentAt = started - origin;
  const label = spec.label ?? "";
  return new Promise<Outcome>((done) => {
    let settled = false;
    const finish = (outcome: Omit<Outcome, "label" | "sentAt" | "latencyMs" | "server"> & { server?: Record<string, number> }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      done({ label, sentAt, latencyMs: performance.now() - started, server: undefined, ...outcome });
    };
    const req = httpRequest(`${baseUrl}${spec.path}`, {
      method: spec.method ?? "POST",
      agent,
      headers: spec.method === "GET" ? spec.headers : { ...spec.headers, "content-length": String(spec.body.byteLength) },
    });
    const timer = setTimeout(() => {
      finish({ status: 0, retryAfter: undefined, batch: undefined, error: "timeout", message: undefined });
      req.destroy();
    }, spec.timeoutMs);
    const onAbort = () => {
      finish({ status: 0, retryAfter: undefined, batch: undefined, error: "aborted", message: undefined });
      req.destroy();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (error) => finish({ status: 0, retryAfter: undefined, batch: undefined, error: error.message, message: undefined }));
    req.on("response", (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => {
        if (status >= 300) chunks.push(chunk);
      });
      res.on("error", (error) => finish({ status: 0, retryAfter: undefined, batch: undefined, error: error.message, message: undefined }));
      res.on("end", () => {
        const timing = String(res.headers["server-timing"] ?? "");
        const batch = /batch;desc="?(\d+)/.exec(timing)?.[1];
        let server: Record<string, number> | undefined;
        for (const m of timing.matchAll(/([\w-]+);dur=([\d.]+)/g)) (server ??= {})[m[1]!] = Number(m[2]);
        let message: string | undefined;
        if (status >= 300) {
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            message = String((JSON.parse(text) as { error?: unknown }).error ?? text).slice(0, 200);
          } catch {
            message = text.slice(0, 200);
          }
        }
        const retryAfter = res.headers["retry-after"];
        const servedBy = res.headers[SERVED_BY_HEADER];
        finish({
          status,
          retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
          batch: batch === undefined ? undefined : Number(batch),
          server,
          timing: timing || undefined,
          error: undefined,
          message,
          servedBy: Array.isArray(servedBy) ? servedBy[0] : servedBy,
        });
      });
    });
    req.end(spec.method === "GET" ? undefined : spec.body);
  });
}

export interface ClosedLoopOptions {
  baseUrl: string;
  concurrency: number;
  durationMs: number;
  /** Stops earlier once this many requests were sent. */
  maxRequests?: number;
  next: (i: number) => RequestSpec;
  agent?: Agent;
  /** Stops sending (the requests in flight still finish). */
  signal?: AbortSignal;
}

/** `concurrency` clients each sending back to back until the time or request budget is spent. */
export async function closedLoop(options: ClosedLoopOptions): Promise<{ outcomes: Outcome[]; elapsedMs: number }> {
  const agent = options.agent ?? newAgent(options.concurrency);
  const origin = performance.now();
  const stopAt = origin + options.durationMs;
  const maxRequests = options.maxRequests ?? Number.POSITIVE_INFINITY;
  const outcomes: Outcome[] = [];
  let issued = 0;
  const client = async () => {
    while (performance.now() < stopAt && issued < maxRequests && !options.signal?.aborted) {
      const spec = options.next(issued++);
      outcomes.push(await send(options.baseUrl, agent, spec, origin));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  const elapsedMs = performance.now() - origin;
  if (!options.agent) agent.destroy();
  return { outcomes, elapsedMs };
}

/**
 * `cpuMs()` spent per answered request over a closed loop (a baseline's cost: the floor, the bare
 * path). A baseline whose requests fail measures something else, so more than 1% failed throws;
 * a stray timeout on a busy machine does not make it so.
 */
export async function cpuMsPerAnswer(options: ClosedLoopOptions & { cpuMs: () => number }): Promise<number> {
  return (await cpuMsPerAnswerBy({ ...options, cpuMs: { all: options.cpuMs } })).all;
}

/** cpuMsPerAnswer for several CPU counters read around the same loop (e.g. each process of a stack). */
export async function cpuMsPerAnswerBy<K extends string>(options: ClosedLoopOptions & { cpuMs: Record<K, () => number> }): Promise<Record<K, number>> {
  const counters = Object.entries(options.cpuMs) as [K, () => number][];
  const before = counters.map(([, read]) => read());
  const { outcomes } = await closedLoop(options);
  const answered = outcomes.filter((o) => o.status === 200).length;
  const failed = outcomes.length - answered;
  if (failed > outcomes.length / 100) throw new Error(`${failed} of ${outcomes.length} requests to ${outcomes[0]?.label || "the baseline"} failed`);
  return Object.fromEntries(counters.map(([name, read], i) => [name, (read() - before[i]!) / Math.max(1, answered)])) as Record<K, number>;
}

export interface OpenLoopOptions {
  baseUrl: string;
  /** Mean arrivals per second (Poisson process). */
  ratePerSecond: number;
  durationMs: number;
  next: (i: number) => RequestSpec;
  /** Seeded uniform [0, 1) source so runs are comparable. */
  random: () => number;
  agent?: Agent;
  /** Requests the client keeps open at most (beyond: counted as `client-overflow`, not sent). */
  maxOpen?: number;
  /** Stops sending (the requests in flight still finish). */
  signal?: AbortSignal;
}

/**
 * Poisson arrivals: exponential gaps drawn up front from `random`, fired by a 1 ms timer loop
 * (every arrival whose time has come is sent at once). The client's own lag (how late arrivals
 * were sent) is returned so a saturated load generator shows up in the report.
 */
export async function openLoop(options: OpenLoopOptions): Promise<{ outcomes: Outcome[]; elapsedMs: number; lagP99Ms: number }> {
  const arrivals: number[] = [];
  for (let t = 0; ;) {
    t += (-Math.log(1 - options.random()) * 1000) / options.ratePerSecond;
    if (t >= options.durationMs) break;
    arrivals.push(t);
  }
  const maxOpen = options.maxOpen ?? 4096;
  const agent = options.agent ?? newAgent(maxOpen);
  const origin = performance.now();
  const pending: Promise<Outcome>[] = [];
  const lags: number[] = [];
  let open = 0;
  const overflow: string[] = [];
  let next = 0;
  while (next < arrivals.length && !options.signal?.aborted) {
    const now = performance.now() - origin;
    while (next < arrivals.length && arrivals[next]! <= now) {
      const spec = options.next(next);
      lags.push(now - arrivals[next]!);
      next++;
      if (open >= maxOpen) {
        overflow.push(spec.label ?? "");
        continue;
      }
      open++;
      pending.push(
        send(options.baseUrl, agent, spec, origin).then((outcome) => {
          open--;
          return outcome;
        }),
      );
    }
    if (now > options.durationMs + 5_000) break; // the client cannot keep up at all; stop
    await new Promise((r) => setTimeout(r, 1));
  }
  const outcomes = await Promise.all(pending);
  for (const label of overflow) {
    outcomes.push({
      label,
      status: 0,
      sentAt: 0,
      latencyMs: 0,
      retryAfter: undefined,
      batch: undefined,
      server: undefined,
      error: "client-overflow",
      message: undefined,
    });
  }
  const elapsedMs = performance.now() - origin;
  if (!options.agent) agent.destroy();
  lags.sort((a, b) => a - b);
  return { outcomes, elapsedMs, lagP99Ms: lags.length ? lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.99))]! : 0 };
}

/** A seeded PRNG (mulberry32, the models' generator), so arrivals and the tier mix repeat between policies. */
export const seeded = mulberry32;
