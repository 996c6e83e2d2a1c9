/**
 * @module The `hotpath` CLI as a user runs it: bin/hotpath.js in its own process (this Node, the
 * project's 24, so it loads the TypeScript directly as `npx hotpath` does), with the environment
 * it is given and none of the caller's HOTPATH_* variables.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../../../scripts/lib/wrangler-dev.ts";

export const CLI = join(REPO_ROOT, "bin/hotpath.js");
const CLI_TIMEOUT_MS = 120_000;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  /** What it has written to stderr so far (progress lines, errors). */
  stderr(): string;
  done: Promise<CliResult>;
}

/** Starts the CLI; `env` comes on top of a copy of this process's environment without HOTPATH_*. */
export function spawnCli(args: string[], env: Record<string, string> = {}): RunningCli {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("HOTPATH_")));
  const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), CLI_TIMEOUT_MS);
  const done = new Promise<CliResult>((resolve) => {
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, stderr: () => stderr, done };
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return spawnCli(args, env).done;
}
