/**
 * @module Starts the plain functions server (plain-functions-server.ts) as its own process for
 * the benchmark and its test, waits until it listens (its sessions loaded), and stops it for sure.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const SERVER = fileURLToPath(new URL("./plain-functions-server.ts", import.meta.url));
const LISTENING = /^listening on (http:\/\/\S+?);/;

export interface PlainServer {
  url: string;
  /** Its process, for its CPU time (/proc). */
  pid: number;
  /** The line it printed once ready (its runtime and threads). */
  banner: string;
  stop(): Promise<void>;
}

export async function startPlainServer(port: number, threads = 1, readyTimeoutMs = 60_000): Promise<PlainServer> {
  const child = spawn(process.execPath, [SERVER, "--port", String(port), "--threads", String(threads)], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
    await exited;
    clearTimeout(timer);
  };
  const ready = new Promise<{ url: string; banner: string }>((resolve, reject) => {
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding("utf8").on("data", (chunk: string) => {
        for (const line of chunk.split("\n").filter(Boolean)) {
          lines.push(line);
          const url = LISTENING.exec(line)?.[1];
          if (url) resolve({ url, banner: line });
        }
      });
    }
    void exited.then(() => reject(new Error(`the plain functions server exited before it listened:\n${lines.slice(-20).join("\n")}`)));
    setTimeout(
      () => reject(new Error(`the plain functions server did not listen within ${readyTimeoutMs} ms:\n${lines.slice(-20).join("\n")}`)),
      readyTimeoutMs,
    ).unref();
  });
  try {
    const { url, banner } = await ready;
    return { url, pid: child.pid!, banner, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
