/**
 * @module A fault injector for the end-to-end tests: a small HTTP server listed in the edge's
 * ORIGINS as one more origin, in front of a real origin process. In `pass` mode it forwards every
 * request unchanged (so it is a healthy origin). The other modes break inference answers only
 * (its health route still passes, as a server whose model fails while the process lives): in
 * `error-500` mode it answers 500, in `garbage` mode a 200 whose body is not an OIP response, in
 * `busy` mode a 503 with Retry-After (what an origin answers when its queue is full), in
 * `unauthorized` mode a 401 (an origin whose token was rotated without the edge's), in `silent`
 * mode it closes the connection without a word (a crashed or firewalled server), in `slow`
 * mode the real answer after `slowMs` (an overloaded or throttled GPU). In
 * `unready` mode the health route fails too: `/v2/health/ready` and inference answer 503, as an
 * origin does while it restarts and loads its models. It never computes anything itself: it
 * only breaks the answers of a real origin, as a flaky network or a broken server would.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type FaultMode = "pass" | "error-500" | "garbage" | "busy" | "unready" | "slow" | "unauthorized" | "silent";

export interface FaultProxy {
  url: string;
  mode: FaultMode;
  /** How long `slow` mode holds an inference request before passing it on. */
  slowMs: number;
  /** Inference requests received, per mode they were answered in. */
  readonly inferHits: Record<FaultMode, number>;
  /** `GET /v2/health/ready` requests received (the edge's health checks). */
  readonly readyChecks: number[];
  /** When each inference request arrived (performance.now() of this process), in order. */
  readonly inferHitTimes: number[];
  /** Back to `pass` with the default `slowMs` and every count at zero: each test starts from here. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_SLOW_MS = 3_000;
/** Hop-by-hop and length headers are not copied: node and fetch set their own. */
const SKIPPED_HEADERS = new Set(["host", "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"]);

/** Listens on `host` at a port the system picks (nothing can take it between choosing and binding); `url` says which. */
export async function startFaultProxy(options: { host: string; target: string }): Promise<FaultProxy> {
  const proxy: FaultProxy = {
    url: "",
    mode: "pass",
    slowMs: DEFAULT_SLOW_MS,
    inferHits: { pass: 0, "error-500": 0, garbage: 0, busy: 0, unready: 0, slow: 0, unauthorized: 0, silent: 0 },
    inferHitTimes: [],
    readyChecks: [],
    reset: () => {
      proxy.mode = "pass";
      proxy.slowMs = DEFAULT_SLOW_MS;
      for (const mode of Object.keys(proxy.inferHits) as FaultMode[]) proxy.inferHits[mode] = 0;
      proxy.inferHitTimes.length = 0;
      proxy.readyChecks.length = 0;
    },
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    void handle(proxy, options.target, req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `fault proxy: ${String(error)}` }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, options.host, () => resolve());
  });
  proxy.url = `http://${options.host}:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

async function handle(proxy: FaultProxy, target: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const isInfer = req.method === "POST" && /\/infer$/.test(req.url ?? "");
  const isReadyCheck = req.method === "GET" && req.url === "/v2/health/ready";
  const mode = isInfer || (isReadyCheck && proxy.mode === "unready") ? proxy.mode : "pass";
  if (isInfer) {
    proxy.inferHits[mode] += 1;
    proxy.inferHitTimes.push(performance.now());
  }
  if (isReadyCheck) proxy.readyChecks.push(performance.now());

  if (mode === "slow") await new Promise((resolve) => setTimeout(resolve, proxy.slowMs));
  if (mode === "unready") {
    res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
    res.end(JSON.stringify({ error: "injected fault: not ready: mlp-heavy@1 loading" }));
    return;
  }
  if (mode === "error-500") {
    res.writeHead(500, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "injected fault: internal error" }));
    return;
  }
  if (mode === "unauthorized") {
    res.writeHead(401, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "injected fault: missing or unknown bearer token" }));
    return;
  }
  if (mode === "silent") {
    res.socket?.destroy();
    return;
  }
  if (mode === "busy") {
    res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
    res.end(JSON.stringify({ error: "injected fault: the model is still loading on this origin" }));
    return;
  }
  if (mode === "garbage") {
    // A success status with an OIP binary header length, but bytes that are no OIP response.
    const bytes = randomBytes(48);
    res.writeHead(200, { "content-type": "application/octet-stream", "inference-header-content-length": "16" });
    res.end(bytes);
    return;
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !SKIPPED_HEADERS.has(name)) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  let answer: Response;
  try {
    answer = await fetch(`${target}${req.url ?? "/"}`, {
      method: req.method,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
      signal: AbortSignal.timeout(60_000),
    });
  } catch (error) {
    // The origin behind is gone: a gateway error, as a real proxy in front of it would answer.
    res.writeHead(502, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: `fault proxy: the origin behind it is unreachable (${String(error)})` }));
    return;
  }
  const out: Record<string, string> = {};
  answer.headers.forEach((value, name) => {
    if (!SKIPPED_HEADERS.has(name)) out[name] = value;
  });
  const bytes = Buffer.from(await answer.arrayBuffer());
  res.writeHead(answer.status, out);
  res.end(bytes);
}
