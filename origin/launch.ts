/**
 * @module Starts a real origin process and waits until it is ready; stops it for sure. For the
 * tests, the local stack (`npm start`) and the benchmark, so each does not grow its own spawn,
 * poll and kill logic. Readiness counts only once the child itself said it listens on the port it
 * was given: a health check answered on that port by some other process proves nothing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";

export interface LaunchOptions {
  port: number;
  host?: string;
  edge: string;
  token: string;
  /** `name@version` each; a variant `name@version~variant` (its served version). */
  models: string[];
  cacheDir: string;
  /** More flags for origin/server.ts, e.g. ["--ep", "webgpu", "--batching", "off"]. */
  args?: string[];
  /** Milliseconds to wait for /v2/health/ready (default 60 s); 0 returns once spawned. */
  readyTimeoutMs?: number;
  /** Each line the origin prints, as it prints it (default: kept in `logs` only). */
  onLine?: (line: string) => void;
}

export interface LaunchedOrigin {
  url: string;
  /** The port it was told to listen on. */
  port: number;
  child: ChildProcess;
  /** stdout and stderr lines so far. */
  logs: string[];
  /** Resolves with the port the child reports it listens on; rejects if it exits first. */
  listening: Promise<number>;
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<number | string>;
}

// server.ts beside this file, or server.mjs beside the bundle this file was built into (npm run gpu-kit).
const SERVER = fileURLToPath(new URL(`./server${extname(new URL(import.meta.url).pathname)}`, import.meta.url));
/** What origin/server.ts prints once its socket is bound: `listening on http://<address>:<port>;`. */
const LISTENING_LINE = /listening on http:\/\/\[?[^\s\]]*\]?:(\d+)[;\s]/;
const LOG_TAIL_LINES = 20;

/**
 * @example
 * const origin = await launchOrigin({ port: 8788, edge: "http://127.0.0.1:8787", token, models: ["mlp-heavy@1"], cacheDir: ".hotpath/origin-cache" });
 * try { await fetch(`${origin.url}/v2/health/ready`); } finally { await origin.stop(); }
 */
export async function launchOrigin(options: LaunchOptions): Promise<LaunchedOrigin> {
  const host = options.host ?? "127.0.0.1";
  const args = [
    SERVER,
    "--port",
    String(options.port),
    "--host",
    host,
    "--edge",
    options.edge,
    "--cache-dir",
    options.cacheDir,
    "--models",
    options.models.join(","),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { env: { ...process.env, ORIGIN_TOKEN: options.token }, stdio: ["ignore", "pipe", "pipe"] });
  const logs: string[] = [];
  let reportListening: (port: number) => void = () => undefined;
  const listening = new Promise<number>((resolve) => (reportListening = resolve));
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream?.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        logs.push(line);
        const port = LISTENING_LINE.exec(line)?.[1];
        if (port !== undefined) reportListening(Number(port));
        options.onLine?.(line);
      }
    });
  }
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
  const stop = async (graceMs = 5_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return exited;
  };
  const tail = () => logs.slice(-LOG_TAIL_LINES).join("\n");
  const listeningOrGone = Promise.race([
    listening,
    exited.then((code) => Promise.reject(new Error(`the origin exited (${code}) before it listened on ${host}:${options.port}:\n${tail()}`))),
  ]);
  listeningOrGone.catch(() => undefined); // read by waitListening; unread, it must not be an unhandled rejection
  const origin: LaunchedOrigin = { url: `http://${host}:${options.port}`, port: options.port, child, logs, listening: listeningOrGone, exited, stop };
  const timeoutMs = options.readyTimeoutMs ?? 60_000;
  if (timeoutMs > 0) {
    try {
      await waitReady(origin, timeoutMs);
    } catch (error) {
      await stop();
      throw error;
    }
  }
  return origin;
}

/**
 * Waits until the child says it listens, and checks it listens on the port it was given (a
 * child that could not bind it exits, and this says so with its last lines).
 */
export async function waitListening(origin: LaunchedOrigin, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the origin did not listen on ${origin.url} within ${timeoutMs} ms:\n${origin.logs.slice(-LOG_TAIL_LINES).join("\n")}`)),
      timeoutMs,
    );
  });
  try {
    const port = await Promise.race([origin.listening, timedOut]);
    if (port !== origin.port) throw new Error(`the origin listens on port ${port}, not on ${origin.port} as it was told`);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls /v2/health/ready (no token needed) until 200, once the child listens on its port; fails early if the process exits. */
export async function waitReady(origin: LaunchedOrigin, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  await waitListening(origin, timeoutMs);
  let gone: number | string | undefined;
  void origin.exited.then((code) => (gone = code));
  while (Date.now() < until) {
    if (gone !== undefined) throw new Error(`the origin exited (${gone}) before it was ready:\n${origin.logs.slice(-LOG_TAIL_LINES).join("\n")}`);
    const status = await fetch(`${origin.url}/v2/health/ready`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the origin was not ready within ${timeoutMs} ms:\n${origin.logs.slice(-LOG_TAIL_LINES).join("\n")}`);
}
