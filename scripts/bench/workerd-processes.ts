/**
 * @module The workerd processes below a `wrangler dev` session, read from /proc (Linux only;
 * elsewhere every function finds nothing): which is wrangler's proxy and which runs the Worker,
 * their CPU time, and the Worker's own entry socket, which a load test can call to leave the
 * proxy out (production has no such hop: it exists for wrangler's live reload).
 */
import { readFileSync } from "node:fs";
import { descendants, listeningPorts } from "../lib/wrangler-dev.ts";

export interface WorkerdProcess {
  pid: number;
  /** "proxy": wrangler's, listening on the session's port; "worker": the one whose thread runs the Worker and its Durable Objects. */
  label: "proxy" | "worker";
}

/** Linux clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on every common kernel). */
export const TICKS_PER_SECOND = 100;

export function workerdProcesses(launcherPid: number, port: number): WorkerdProcess[] {
  return descendants(launcherPid).flatMap((pid): WorkerdProcess[] => {
    const cmdline = workerdCommandLine(pid);
    if (cmdline === undefined) return [];
    // The proxy's entry socket is the session's port; the worker's is an ephemeral one.
    return [{ pid, label: new RegExp(`entry=\\S*:${port}(\\s|$)`).test(cmdline) ? "proxy" : "worker" }];
  });
}

/** The command line of process `pid` when it runs `workerd serve`; undefined for any other process, or one that is gone. */
export function workerdCommandLine(pid: number): string | undefined {
  let cmdline = "";
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return undefined;
  }
  return /\/workerd\s+serve\b/.test(cmdline) ? cmdline : undefined;
}

/** User + system CPU ticks of a process so far; NaN when it is gone. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the line)
  } catch {
    return Number.NaN;
  }
}

/** CPU ticks of these processes together; one that is gone counts nothing rather than making the sum NaN. */
export function cpuTicksOf(pids: readonly number[]): number {
  return pids.map(cpuTicks).reduce((sum, t) => sum + (Number.isFinite(t) ? t : 0), 0);
}

/**
 * The URL of the Worker's own entry socket (the one of the worker process's listening ports that
 * answers hotpath's health check), or undefined where it cannot be found. Its other sockets are
 * miniflare's loopback and debug ports.
 */
export async function workerEntryUrl(launcherPid: number, port: number): Promise<string | undefined> {
  for (const worker of workerdProcesses(launcherPid, port).filter((p) => p.label === "worker")) {
    for (const candidate of listeningPorts(worker.pid)) {
      const url = `http://127.0.0.1:${candidate}`;
      try {
        const response = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(2_000) });
        const body = await response.text();
        if (response.status === 200 && body.includes('"ready"')) return url;
      } catch {
        // not an HTTP socket
      }
    }
  }
  return undefined;
}
