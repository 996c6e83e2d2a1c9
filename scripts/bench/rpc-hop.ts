/**
 * @module What the local topology itself adds to each call from the router to a ModelHost.
 * `npm start` runs the ModelHosts in a workerd process of their own (deployed, each Durable Object
 * has its own thread); Miniflare joins the two through its dev registry, whose proxy object in the
 * router's process carries every call across. Deployed there is no such proxy. Two bare Workers
 * measure it: a router that answers `/floor` itself and `/call` after one empty RPC to a Durable
 * Object, with the object in a second workerd process (the `npm start` shape) or in the router's
 * own (one crossing, no proxy). CPU of the workerd processes from /proc, closed loops of 8 clients.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare, type V4WorkerOptions } from "miniflare";
import { descendants } from "../lib/wrangler-dev.ts";
import { cpuMsPerAnswer } from "./load.ts";
import { percentile } from "./stats.ts";
import { cpuTicksOf, TICKS_PER_SECOND, workerdCommandLine } from "./workerd-processes.ts";

const ROUTER = `export default { async fetch(request, env) {
  if (new URL(request.url).pathname === "/floor") return new Response("ok");
  const stub = env.HOST.get(env.HOST.idFromName("hop"));
  return new Response(String(await stub.ping(1)));
} };`;
const HOST = `import { DurableObject } from "cloudflare:workers";
export class Host extends DurableObject { ping(x) { return x + 1; } }
export default { fetch() { return new Response("host"); } };`;

type Topology = "two processes" | "one process";

export interface RpcHop {
  /** CPU ms per request above `/floor`, median over rounds, for a call in each topology. */
  callMs: Record<Topology, number>;
  /** What the second process and Miniflare's proxy add to one call: two processes less one. */
  localHopMs: number;
}

function worker(name: string, script: string, durableObjects: V4WorkerOptions["durableObjects"]) {
  const v4 = { name, compatibilityDate: "2025-09-01", modules: true, script, durableObjects } as V4WorkerOptions;
  return convertV4MiniflareOptions({ workers: [v4] }).workers[0]!;
}

async function start(topology: Topology, registry: string): Promise<{ url: URL; instances: Miniflare[] }> {
  const shared = { log: new Log(LogLevel.WARN), unsafeDevRegistryPath: registry, cf: false };
  const routerWorker = worker("hop-router", ROUTER, { HOST: { className: "Host", scriptName: "hop-host" } });
  const hostWorker = worker("hop-host", HOST, { HOST: "Host" });
  if (topology === "one process") {
    const one = new Miniflare({ ...shared, host: "127.0.0.1", port: 0, workers: [routerWorker, hostWorker] });
    return { url: await one.ready, instances: [one] };
  }
  const router = new Miniflare({ ...shared, host: "127.0.0.1", port: 0, workers: [routerWorker] });
  const url = await router.ready;
  const host = new Miniflare({ ...shared, host: "127.0.0.1", port: 0, workers: [hostWorker] });
  await host.ready;
  return { url, instances: [router, host] };
}

/** CPU ms of every workerd process this Node process started (only the hop's run while it measures). */
const workerdCpuMs = () => (cpuTicksOf(descendants(process.pid).filter((pid) => workerdCommandLine(pid) !== undefined)) * 1000) / TICKS_PER_SECOND;

const cpuMsPerRequest = (url: URL, path: string, durationMs: number, signal: AbortSignal) =>
  cpuMsPerAnswer({
    cpuMs: workerdCpuMs,
    signal,
    baseUrl: url.origin,
    concurrency: 8,
    durationMs,
    next: () => ({ path, method: "GET", body: new Uint8Array(0), headers: {}, timeoutMs: 5_000, label: `rpc hop ${path}` }),
  });

/** Until a call goes through: the router's process learns of the host's from the registry a moment after both start. */
async function reachable(url: URL, signal: AbortSignal): Promise<void> {
  for (let attempt = 0; attempt < 100 && !signal.aborted; attempt++) {
    const response = await fetch(new URL("/call", url)).catch(() => undefined);
    await response?.arrayBuffer();
    if (response?.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("rpc hop: the Durable Object never answered the router");
}

/** Call CPU above the floor in each topology, alternating /floor and /call rounds. Run it while nothing else loads the machine. */
export async function measureRpcHop(rounds: number, roundMs: number, signal: AbortSignal): Promise<RpcHop> {
  const callMs = {} as Record<Topology, number>;
  for (const topology of ["two processes", "one process"] as const) {
    const registry = mkdtempSync(join(tmpdir(), "hotpath-hop-"));
    const { url, instances } = await start(topology, registry);
    try {
      await reachable(url, signal);
      const above: number[] = [];
      for (let r = 0; r < rounds && !signal.aborted; r++) {
        const floor = await cpuMsPerRequest(url, "/floor", roundMs, signal);
        above.push((await cpuMsPerRequest(url, "/call", roundMs, signal)) - floor);
      }
      callMs[topology] = percentile(above, 0.5);
    } finally {
      await Promise.allSettled(instances.map((mf) => mf.dispose()));
      rmSync(registry, { recursive: true, force: true });
    }
  }
  return { callMs, localHopMs: callMs["two processes"] - callMs["one process"] };
}
