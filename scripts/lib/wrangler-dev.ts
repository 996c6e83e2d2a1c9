/**
 * @module Runs `wrangler dev` for the local stack: start on a host/port, wait until ready, stop
 * with its whole process tree. Ready means the Worker answers on that port and, where /proc
 * tells, a process of this wrangler listens there: another server on the port must not pass.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root: wrangler.toml lives there, and wrangler resolves it from its cwd. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/**
 * wrangler's own launcher, run with this Node: `node_modules/.bin/wrangler` has a
 * `#!/usr/bin/env node` shebang, which finds the system Node (20 here) that wrangler refuses.
 */
export const WRANGLER_JS = resolve(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");

const OUTPUT_LINES_KEPT = 60;
const STOP_GRACE_MS = 10_000;

export interface WranglerDevOptions {
  host?: string;
  port?: number;
  /** Local state (R2, KV, Durable Object SQLite); relative to the repo root. Default `.wrangler/state`. */
  persistTo?: string;
  /**
   * A `.dev.vars`-style file passed as `--env-file`. With it wrangler does not read the
   * repository's `.dev.vars` at all, so tests can run with their own ADMIN_TOKEN beside a
   * user's stack. Without it wrangler reads `<repo>/.dev.vars`.
   */
  envFile?: string;
  readyTimeoutMs?: number;
  /** Every line wrangler prints (ANSI colours removed), e.g. to show request logs. */
  onLine?: (line: string) => void;
  /** Aborting while waiting for readiness stops wrangler and rejects (Ctrl-C during startup). */
  signal?: AbortSignal;
  /**
   * `warn` drops the per-request log line, which wrangler's entry Worker sends to the Node
   * process with one more HTTP call per request on the Worker's own thread: what a load test
   * wants (the Worker's warnings and errors still show). Default: wrangler's own (`log`).
   */
  logLevel?: "log" | "info" | "warn";
  /** Another wrangler config than the repository's wrangler.toml (its paths are relative to it). */
  config?: string;
  /** The Worker's name (`--name`): other `wrangler dev` sessions bind to it by this name. */
  name?: string;
  /** Vars set over wrangler.toml's and the env file's (`--var NAME:value`). */
  vars?: Record<string, string>;
}

export interface WranglerDev {
  url: string;
  pid: number;
  /** Resolves with the launcher's exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** The last lines wrangler printed, for error messages. */
  recentOutput(): string;
  /** Ends wrangler, its workerd and esbuild children, and waits until they are gone. */
  stop(): Promise<void>;
}

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Fails fast with a clear message instead of letting wrangler pick another port silently. */
export async function assertPortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new Error(`${host}:${port} is already in use (another hotpath stack? pass --port)`) : error),
    );
    server.listen(port, host, () => server.close(() => resolvePromise()));
  });
}

/** Every descendant PID of `pid`, from /proc (Linux); empty where /proc is not available. */
export function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      let children = "";
      try {
        children = readFileSync(`/proc/${parent}/task/${task}/children`, "utf8");
      } catch {
        continue;
      }
      for (const child of children.split(/\s+/).filter(Boolean).map(Number)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** TCP ports a process listens on: its socket inodes matched against /proc/net/tcp{,6} in LISTEN state. */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields[3] === "0A" && inodes.has(fields[9] ?? "")) ports.push(Number.parseInt(fields[1]?.split(":")[1] ?? "", 16));
    }
  }
  return ports;
}

/** Whether one of `pids` listens on `port`; true where /proc cannot tell. */
function oneListensOn(pids: number[], port: number): boolean {
  return !existsSync("/proc/self/fd") || pids.some((pid) => listeningPorts(pid).includes(port));
}

/** State letter and process group from /proc/<pid>/stat; undefined when gone or not on Linux. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
    const [state = "", , pgrp = ""] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state, pgrp: Number(pgrp) };
  } catch {
    return undefined;
  }
}

/**
 * Running, not a zombie: a child orphaned by the launcher's death waits for PID 1 to reap it,
 * which some container inits do late or never, and it no longer holds ports or memory.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = procStat(pid);
  return stat === undefined ? !existsSync("/proc/self/stat") : stat.state !== "Z";
}

/** Live (non-zombie) members of a process group, from /proc (none found where there is no /proc); for tests that must leave nothing running. */
export function liveGroupMembers(pgid: number): number[] {
  let pids: number[] = [];
  try {
    pids = readdirSync("/proc")
      .filter((name) => /^\d+$/.test(name))
      .map(Number);
  } catch {
    return [];
  }
  return pids.filter((pid) => {
    const stat = procStat(pid);
    return stat !== undefined && stat.pgrp === pgid && stat.state !== "Z";
  });
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return condition();
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8787;
  const persistTo = resolve(REPO_ROOT, options.persistTo ?? ".wrangler/state");
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (!existsSync(WRANGLER_JS)) throw new Error(`wrangler is not installed (${WRANGLER_JS}); run npm install`);
  await assertPortFree(host, port);

  const args = [WRANGLER_JS, "dev", "--ip", host, "--port", String(port), "--persist-to", persistTo, "--show-interactive-dev-session=false"];
  if (options.envFile) args.push("--env-file", resolve(options.envFile));
  if (options.logLevel) args.push("--log-level", options.logLevel);
  if (options.config) args.push("--config", resolve(options.config));
  if (options.name) args.push("--name", options.name);
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push("--var", `${name}:${value}`);
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    // stdin closed: wrangler's interactive hotkeys must not wait on a terminal.
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      // Offline: wrangler would otherwise try to fetch Request.cf from Cloudflare.
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
      // Anything wrangler spawns via `node` gets this Node too, not the older system one.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
      FORCE_COLOR: "0",
    },
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error("could not spawn wrangler dev");

  const lines: string[] = [];
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let partial = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      const parts = (partial + chunk).split(/\r?\n/);
      partial = parts.pop() ?? "";
      for (const raw of parts) {
        const line = raw.replace(ANSI, "");
        lines.push(line);
        if (lines.length > OUTPUT_LINES_KEPT) lines.shift();
        options.onLine?.(line);
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const recentOutput = () => lines.join("\n");

  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolvePromise) => {
    child.once("exit", (code) => {
      exitCode = code;
      resolvePromise(code);
    });
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // The launcher (bin/wrangler.js) runs the real CLI as a child, which owns workerd and
      // esbuild. Killing the launcher makes the CLI tear them down; remember them first so
      // nothing survives if that teardown stalls.
      const tree = descendants(pid);
      if (exitCode === undefined) child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const launcherGone = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_GRACE_MS)))]);
      clearTimeout(timer); // a pending timer would keep the caller's process alive for the grace period
      if (!launcherGone) child.kill("SIGKILL");
      await exited;
      if (!(await waitUntil(() => !tree.some(alive), STOP_GRACE_MS))) {
        for (const leftover of tree.filter(alive)) {
          try {
            process.kill(leftover, "SIGKILL");
          } catch {
            // already gone
          }
        }
        await waitUntil(() => !tree.some(alive), 2_000);
      }
    })();
    return stopping;
  };

  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  while (!(await healthy(url)) || !oneListensOn(descendants(pid), port)) {
    if (options.signal?.aborted) {
      await stop();
      throw new Error("wrangler dev start aborted");
    }
    if (exitCode !== undefined) {
      await stop();
      throw new Error(`wrangler dev exited (code ${exitCode}) before it was ready; its last output:\n${recentOutput()}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev was not ready on ${url} within ${timeoutMs / 1000} s; its last output:\n${recentOutput()}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, pid, exited, recentOutput, stop };
}
