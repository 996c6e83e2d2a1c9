/**
 * @module Starts a real origin process and waits until it is ready; stops it for sure. For the
 * tests, the local stack (`npm start`) and the benchmark, so each does not grow its own spawn,
 * poll and kill logic.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";

export interface LaunchOptions {
  port: number;
  host?: string;
  edge: string;
  token: string;
  /** `name@version` each. */
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
  child: ChildProcess;
  /** stdout and stderr lines so far. */
  logs: string[];
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<number | string>;
}

// server.ts beside this file, or server.mjs beside the bundle this file was built into (npm run gpu-kit).
const SERVER = fileURLToPath(new URL(`./server${extname(new URL(import.meta.url).pathname)}`, import.meta.url));

/**
 * @example
 * const origin = await launchOrigin({ port: 8788, edge: "http://127.0.0.1:8787", token, models: ["mlp-heavy@1"], cacheDir: ".hotpath/origin-cache" });
 * try { await fetch(`${origin.url}/v2/health/ready`); } finally { await origin.stop(); }
 */
export async function launchOrigin(options: LaunchOptions): Promise<LaunchedOrigin> {
  const host = options.host ?? "127.0.0.1";
  const args = [
    SERVER, "--port", String(options.port), "--host", host, "--edge", options.edge,
    "--cache-dir", options.cacheDir, "--models", options.models.join(","), ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { env: { ...process.env, ORIGIN_TOKEN: options.token }, stdio: ["ignore", "pipe", "pipe"] });
  const logs: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream?.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        logs.push(line);
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
  const origin: LaunchedOrigin = { url: `http://${host}:${options.port}`, child, logs, exited, stop };
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

/** Polls /v2/health/ready (no token needed) until 200; fails early if the process exits. */
export async function waitReady(origin: LaunchedOrigin, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let gone: number | string | undefined;
  void origin.exited.then((code) => (gone = code));
  while (Date.now() < until) {
    if (gone !== undefined) throw new Error(`the origin exited (${gone}) before it was ready:\n${origin.logs.slice(-20).join("\n")}`);
    const status = await fetch(`${origin.url}/v2/health/ready`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the origin was not ready within ${timeoutMs} ms:\n${origin.logs.slice(-20).join("\n")}`);
}
