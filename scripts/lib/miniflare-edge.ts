/**
 * @module The local edge in its production shape: the deploy bundle run by two Miniflare
 * instances, so two workerd processes. One runs the router Worker with the ModelRegistry and the
 * vad stream objects; the other runs only the ModelHost Durable Objects. Each has its own thread,
 * as router isolates and ModelHosts do when deployed, so a request the router parses or refuses
 * does not take time from a model's runs. The router reaches the ModelHosts through a Durable
 * Object binding with `scriptName`, joined by a dev registry private to this stack; KV and R2
 * live in one state folder that both processes share (Miniflare's shared storage: one instance
 * owns it, the other's calls go to the owner).
 *
 * Nothing sits between the client and the router's workerd: no wrangler proxy, and no per-request
 * log line sent back to Node unless `logRequests` asks for it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare, type MiniflareOptions, type V4WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { buildWorkerBundle, type WorkerBundle } from "./worker-bundle.ts";
import { assertPortFree, descendants, REPO_ROOT } from "./wrangler-dev.ts";

/** wrangler.toml's Worker name: the router keeps it, so its Durable Objects' state stays where `wrangler dev` put it. */
export const ROUTER_WORKER = "hotpath";
/** The ModelHost's Worker; its objects' storage (alarms only) lives under this name's key. */
export const HOST_WORKER = "hotpath-modelhost";
const OUTPUT_LINES_KEPT = 60;

export interface MiniflareEdgeOptions {
  host: string;
  port: number;
  /** The state folder, as `wrangler dev --persist-to` takes it (Miniflare's state is under `v3/`). */
  persistTo: string;
  /** A `.dev.vars`-style file with the secrets and var overrides (ADMIN_TOKEN, ORIGIN_TOKEN, ORIGINS, ...). */
  devVars: string;
  /** Vars set over wrangler.toml's and the dev vars file's, in both processes. */
  vars?: Record<string, string>;
  /** A log line per request (Miniflare's entry Worker sends it to Node: CPU on the router's thread). */
  logRequests?: boolean;
  /** Each line either workerd prints, prefixed with its process ("router" or "host"). */
  onLine?: (line: string) => void;
  /** DevTools inspectors on the router's and the ModelHosts' processes, on these ports: for CPU profiles of each thread. */
  inspectorPorts?: { router?: number; host?: number };
  signal?: AbortSignal;
}

export interface MiniflareEdge {
  url: string;
  /** Never resolves: Miniflare restarts a workerd that crashes. Here to match WranglerDev. */
  exited: Promise<number | null>;
  recentOutput(): string;
  /** The workerd processes, router first: for CPU figures from /proc (Linux; empty elsewhere). */
  workerdPids(): { router: number[]; host: number[] };
  stop(): Promise<void>;
}

type DurableObjectBindings = NonNullable<V4WorkerOptions["durableObjects"]>;

/** wrangler.toml's bindings and vars for local use, with the dev vars file read as `wrangler dev --env-file` reads it. */
function configWorkerOptions(devVars: string): V4WorkerOptions {
  // envFiles is read by wrangler (as `--env-file`) but missing from its declared options type.
  const options = { envFiles: [resolve(devVars)] } as Parameters<typeof unstable_getMiniflareWorkerOptions>[2];
  return unstable_getMiniflareWorkerOptions(join(REPO_ROOT, "wrangler.toml"), undefined, options).workerOptions as V4WorkerOptions;
}

/** Every Durable Object binding pointed at `scriptName`'s process, except the classes in `local`. */
function bindObjects(all: DurableObjectBindings, local: string[], scriptName: string): DurableObjectBindings {
  return Object.fromEntries(
    Object.entries(all).map(([binding, designator]) => {
      const className = typeof designator === "string" ? designator : designator.className;
      return [binding, local.includes(className) ? { className, useSQLite: true } : { className, scriptName, useSQLite: true }];
    }),
  );
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Runs `create` and removes the signal listeners it added. Miniflare's exit hook answers
 * SIGINT, SIGTERM and SIGHUP with process.exit(128 + signal) at once, before the caller could stop
 * the origin or wait for its own cleanup (start.ts must exit 0 on SIGTERM). The caller owns
 * signals and calls stop(); Miniflare's `exit` listener stays, so workerd never outlives Node.
 */
function withoutSignalListeners<T>(create: () => T): T {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  try {
    return create();
  } finally {
    for (const signal of SIGNALS) {
      for (const listener of process.listeners(signal)) if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
}

export async function startMiniflareEdge(options: MiniflareEdgeOptions): Promise<MiniflareEdge> {
  const lines: string[] = [];
  const print = (label: string) => (log: { message: string }) => {
    for (const raw of log.message.split("\n")) {
      const line = `${label} | ${raw}`;
      lines.push(line);
      if (lines.length > OUTPUT_LINES_KEPT) lines.shift();
      options.onLine?.(line);
    }
  };
  await assertPortFree(options.host, options.port);
  const url = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}`;
  const config = configWorkerOptions(options.devVars);
  const objects = config.durableObjects ?? {};
  const bindings = { ...config.bindings, ...options.vars };
  const bundle: WorkerBundle = await buildWorkerBundle(options.signal);
  // Private to this stack: the machine-wide registry holds every `wrangler dev` session's Workers, some named hotpath too.
  const registry = mkdtempSync(join(tmpdir(), "hotpath-registry-"));
  const state = resolve(options.persistTo, "v3");
  const shared: Omit<MiniflareOptions, "workers"> = {
    resourcePersistencePath: state,
    isolatedResourcePersistencePath: state,
    unsafeEnableSharedStorage: true,
    unsafeDevRegistryPath: registry,
    cf: false, // the fallback request.cf, as `wrangler dev` offline: no fetch from Cloudflare
    log: new Log(options.logRequests ? LogLevel.INFO : LogLevel.WARN),
  };
  // wrangler describes the Worker in Miniflare's v4 shape; Miniflare converts it to its own.
  const worker = (name: string, durableObjects: DurableObjectBindings): MiniflareOptions["workers"][number] => {
    const v4 = { ...config, name, modules: bundle.modules, modulesRoot: bundle.dir, bindings, durableObjects } as V4WorkerOptions;
    const [converted] = convertV4MiniflareOptions({ workers: [v4] }).workers;
    if (!converted) throw new Error("Miniflare converted no Worker");
    return converted;
  };
  const started: Miniflare[] = [];
  const pids = { router: [] as number[], host: [] as number[] };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.allSettled(started.map((mf) => mf.dispose()));
      rmSync(registry, { recursive: true, force: true });
      bundle.remove();
    })());
  const workerdChildren = () => new Set(descendants(process.pid));
  try {
    // The router first: it owns the shared storage, so its KV reads (every request) stay in its process.
    const before = workerdChildren();
    const router = withoutSignalListeners(
      () =>
        new Miniflare({
          ...shared,
          host: options.host,
          port: options.port,
          logRequests: options.logRequests ?? false,
          ...inspectorOn(options.inspectorPorts?.router),
          handleStructuredLogs: print("router"),
          workers: [worker(ROUTER_WORKER, bindObjects(objects, ["ModelRegistry", "VadStream", "StreamSlots", "Metrics", "Alerts"], HOST_WORKER))],
        }),
    );
    started.push(router);
    await router.ready;
    pids.router = [...workerdChildren()].filter((pid) => !before.has(pid));
    if (options.signal?.aborted) throw new Error("start aborted");
    const beforeHost = workerdChildren();
    const host = withoutSignalListeners(
      () =>
        new Miniflare({
          ...shared,
          host: "127.0.0.1",
          port: 0,
          logRequests: false,
          ...inspectorOn(options.inspectorPorts?.host),
          handleStructuredLogs: print("host  "),
          workers: [worker(HOST_WORKER, bindObjects(objects, ["ModelHost"], ROUTER_WORKER))],
        }),
    );
    started.push(host);
    await host.ready;
    // workerd starts an isolate on its first request: start the host's now (it compiles the
    // onnxruntime wasm), not inside the first inference's deadline.
    const warmed = performance.now();
    await (await host.dispatchFetch("http://host.local/v2/health/live")).arrayBuffer();
    print("host  ")({ message: `isolate started in ${(performance.now() - warmed).toFixed(0)} ms` });
    pids.host = [...workerdChildren()].filter((pid) => !beforeHost.has(pid));
    return {
      url,
      exited: new Promise<number | null>(() => {}),
      recentOutput: () => lines.join("\n"),
      workerdPids: () => pids,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Miniflare's option for a DevTools inspector on `port`, or none. */
function inspectorOn(port: number | undefined): { inspectorPort?: number } {
  return port === undefined ? {} : { inspectorPort: port };
}
