/**
 * @module CPU affinity for benchmark processes (Linux `taskset`, from util-linux): lets the split
 * topology give the ModelHost's workerd a core of its own, as production gives a Durable Object
 * a thread no router isolate shares, while the router, wrangler's proxies and the load generator
 * share the rest. Where taskset is missing or refused, nothing is pinned and the caller says so.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus as cpuList } from "node:os";
import { descendants } from "../lib/wrangler-dev.ts";

/**
 * Pins every thread of process `pid` to `cpus`; false if taskset is missing or refused, or the
 * process's affinity is not `cpus` afterwards (taskset -a exits 0 for a process that is gone).
 */
export function pin(pid: number, cpus: number[]): boolean {
  if (spawnSync("taskset", ["-a", "-p", "-c", cpus.join(","), String(pid)], { encoding: "utf8" }).status !== 0) return false;
  const allowed = allowedCpus(pid);
  return allowed !== undefined && allowed.length === cpus.length && cpus.every((c) => allowed.includes(c));
}

/** The CPUs a process may run on, from /proc/<pid>/status ("0-2,5"); undefined when it is gone. */
export function allowedCpus(pid: number): number[] | undefined {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const list = /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1];
  if (list === undefined) return undefined;
  return list.split(",").flatMap((part) => {
    const [from, to = from] = part.split("-").map(Number);
    return Array.from({ length: to! - from! + 1 }, (_, i) => from! + i);
  });
}

/** Pins `pid` and every process below it (a wrangler launcher and its workerd children). */
export function pinTree(pid: number, cpus: number[]): boolean {
  return [pid, ...descendants(pid)].map((target) => pin(target, cpus)).every(Boolean);
}

/** Every CPU of the machine (0..n-1), whatever this process is pinned to now. */
export function allCpus(): number[] {
  return cpuList().map((_, i) => i);
}

export interface HostCore {
  /** The core the ModelHost's process has to itself. */
  host: number[];
  /** The cores the router, the proxies and the load generator share. */
  rest: number[];
}

/**
 * Gives the last core to the hosts' process trees and the others to the routers' and to this
 * process (the load generator; its children keep their own pins); undefined, with every pin
 * undone, on a one-core machine or where taskset fails. `release()` gives this process every core back.
 */
export function isolateHostCore(hostPids: number[], routerPids: number[]): (HostCore & { release: () => void }) | undefined {
  const all = allCpus();
  if (all.length < 2) return undefined;
  const split = { host: all.slice(-1), rest: all.slice(0, -1) };
  const release = () => void pin(process.pid, all);
  const pinned = [...hostPids.map((p) => pinTree(p, split.host)), ...routerPids.map((p) => pinTree(p, split.rest)), pin(process.pid, split.rest)];
  if (pinned.every(Boolean)) return { ...split, release };
  for (const p of [...hostPids, ...routerPids]) pinTree(p, all);
  release();
  return undefined;
}
