/**
 * @module `scripts/start.ts` as a user runs it (`npm start`), on free ports with its own state,
 * keys file and .dev.vars in a scratch folder: started in its own process group so that cleanup
 * reaches wrangler, workerd and the origin whatever happens, stopped with SIGTERM as a service
 * manager would, and checked to leave nothing running.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { liveGroupMembers, REPO_ROOT } from "../../../scripts/lib/wrangler-dev.ts";
import type { Cleanup } from "./cleanup.ts";

/** A first start uploads ~140 MB of models (mlp-heavy and its int8 copy), measures the copy and warms the sessions. */
export const START_TIMEOUT_MS = 240_000;
export const STOP_TIMEOUT_MS = 30_000;

export interface DemoStackOptions {
  host: string;
  port: number;
  /** The local origin's port; 0 runs none. */
  originPort: number;
  /** Holds the state, the keys file and the .dev.vars: the user's own are neither read nor written. */
  scratch: string;
}

export interface DemoKeys {
  admin: string;
  free: string;
  standard: string;
  premium: string;
}

export interface DemoStack {
  child: ChildProcess;
  url: string;
  keysFile: string;
  /** Everything start.ts printed so far. */
  output(): string;
  /** Unregisters the cleanup step once the stack was stopped on purpose. */
  forget(): void;
}

export function readDemoKeys(stack: DemoStack): DemoKeys {
  return JSON.parse(readFileSync(stack.keysFile, "utf8")) as DemoKeys;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // group already gone
  }
}

/** True once no live process of the group is left (zombies awaiting PID 1 do not count). */
export async function groupGone(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (liveGroupMembers(child.pid!).length > 0) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Starts the stack like `npm start` does and resolves once it printed its ready banner. */
export async function startDemoStack(cleanup: Cleanup, options: DemoStackOptions): Promise<DemoStack> {
  const url = `http://${options.host}:${options.port}`;
  const keysFile = join(options.scratch, "keys.json");
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, "scripts/start.ts"),
      ...["--port", String(options.port), "--origin-port", String(options.originPort), "--host", options.host],
      ...["--persist-to", join(options.scratch, "state"), "--keys-file", keysFile],
      // Its own admin token: the user's .dev.vars is neither read nor written.
      ...["--dev-vars", join(options.scratch, "dev.vars")],
    ],
    { cwd: REPO_ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  // Whatever a failed test leaves behind: the whole process group (start.ts, workerd, the origin).
  const forget = cleanup.add(async () => {
    killGroup(child, "SIGKILL");
    await groupGone(child, 5_000);
  });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready banner within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const check = () => {
      if (output.includes(`hotpath ready on ${url}`)) {
        clearTimeout(timer);
        child.stdout!.off("data", check);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`start.ts exited with ${code} before its banner:\n${output}`));
    });
  });
  return { child, url, keysFile, output: () => output, forget };
}

/** Whether something accepts connections on host:port. */
export function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** SIGTERM as a service manager would send; start.ts must stop workerd and the origin and exit 0, leaving the port free. */
export async function stopDemoStack(stack: DemoStack): Promise<void> {
  const { child } = stack;
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), STOP_TIMEOUT_MS)))]);
  clearTimeout(timer);
  assert.notEqual(code, "timeout", `start.ts did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM:\n${stack.output()}`);
  assert.equal(code, 0, `start.ts exit code:\n${stack.output()}`);
  assert.ok(await groupGone(child, 10_000), `wrangler or workerd outlived start.ts: pids ${liveGroupMembers(child.pid!).join(", ")}`);
  stack.forget();
  const { hostname, port } = new URL(stack.url);
  assert.equal(await portOpen(hostname, Number(port)), false, `something still listens on ${port}`);
}
