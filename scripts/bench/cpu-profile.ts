/**
 * @module A V8 CPU profile of the Worker's isolate under `wrangler dev`, taken over the Chrome
 * DevTools protocol (Profiler.start / Profiler.stop) through wrangler's inspector proxy, and its
 * summary: self time by function and by module. The router and its Durable Objects share one
 * isolate locally, so one profile covers the whole inference path.
 */
import { listeningPorts } from "../lib/wrangler-dev.ts";
import { workerdProcesses } from "./workerd-processes.ts";

interface InspectorTarget {
  id: string;
  title: string;
  webSocketDebuggerUrl: string;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; scriptId: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
  /** Not V8's: per bundled script, the source file each line comes from (see bundleModules). */
  modules?: Record<string, [line: number, file: string][]>;
  /** Not V8's: the bundled scripts' source, by script id, to read a hot line in (positionTicks give lines). */
  sources?: Record<string, string>;
}

/** One line of a summary: a function (or module) and its share of the sampled time. */
export interface SelfTime {
  name: string;
  selfMs: number;
  share: number;
}

/**
 * The Worker's inspector as wrangler serves it: its inspector proxy (in the proxy workerd, on the
 * port it chose, 9229 unless taken) forwards one DevTools session to the user Worker's isolate.
 * workerd's own inspector socket takes a second session but never answers it while wrangler holds
 * the first, so the profile goes through the proxy. Undefined when none is found.
 */
export async function inspectorTarget(launcherPid: number, port: number): Promise<InspectorTarget | undefined> {
  for (const proxy of workerdProcesses(launcherPid, port).filter((p) => p.label === "proxy")) {
    for (const candidate of listeningPorts(proxy.pid).filter((p) => p !== port)) {
      try {
        const response = await fetch(`http://127.0.0.1:${candidate}/json`, { signal: AbortSignal.timeout(2_000) });
        const targets = (await response.json()) as InspectorTarget[];
        if (Array.isArray(targets) && targets[0]?.webSocketDebuggerUrl) return targets[0];
      } catch {
        // not the inspector
      }
    }
  }
  return undefined;
}

/** A DevTools protocol session over one WebSocket: `send` resolves with the method's result. */
export class InspectorSession {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, { done: (v: unknown) => void; fail: (e: Error) => void }>();
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      const waiter = message.id === undefined ? undefined : this.#pending.get(message.id);
      if (!waiter) return;
      this.#pending.delete(message.id!);
      if (message.error) waiter.fail(new Error(message.error.message));
      else waiter.done(message.result);
    });
  }

  static open(url: string): Promise<InspectorSession> {
    return new Promise((done, fail) => {
      // The proxy refuses a connection without an Origin it allows (Node's WebSocket sends none).
      const socket = new WebSocket(url, { headers: { origin: "http://localhost" } } as unknown as string[]);
      socket.addEventListener("open", () => done(new InspectorSession(socket)), { once: true });
      socket.addEventListener("error", () => fail(new Error(`could not open the inspector at ${url}`)), { once: true });
    });
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((done, fail) => {
      this.#pending.set(id, { done: done as (v: unknown) => void, fail });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.#socket.close();
  }
}

/** Profiles `work` in the Worker's isolate, sampling every `intervalUs` microseconds. */
export async function profileWhile(target: InspectorTarget, work: () => Promise<void>, intervalUs = 200): Promise<CpuProfile> {
  const session = await InspectorSession.open(target.webSocketDebuggerUrl);
  try {
    await session.send("Profiler.enable");
    await session.send("Profiler.setSamplingInterval", { interval: intervalUs });
    await session.send("Profiler.start");
    await work();
    const { profile } = await session.send<{ profile: CpuProfile }>("Profiler.stop");
    await session.send("Profiler.disable");
    // The Worker is one bundle: which file a line comes from is read from the bundle itself.
    await session.send("Debugger.enable");
    profile.modules = {};
    profile.sources = {};
    const scripts = new Set(profile.nodes.filter((n) => n.callFrame.url.endsWith(".js")).map((n) => n.callFrame.scriptId));
    for (const scriptId of scripts) {
      const { scriptSource } = await session.send<{ scriptSource: string }>("Debugger.getScriptSource", { scriptId });
      profile.modules[scriptId] = bundleModules(scriptSource);
      profile.sources[scriptId] = scriptSource;
    }
    await session.send("Debugger.disable");
    return profile;
  } finally {
    session.close();
  }
}

/** Where each file of an esbuild bundle starts: esbuild marks it with a `// path/to/file.ts` line. */
export function bundleModules(source: string): [line: number, file: string][] {
  const starts: [number, string][] = [];
  source.split("\n").forEach((line, i) => {
    const file = /^\/\/ (\S+\.(?:ts|js|mjs|cjs))$/.exec(line)?.[1];
    if (file) starts.push([i, file]);
  });
  return starts;
}

/** The file of a bundle's line (0-based), from bundleModules' starts. */
function fileAt(starts: [number, string][] | undefined, line: number): string | undefined {
  let found: string | undefined;
  for (const [start, file] of starts ?? []) {
    if (start > line) break;
    found = file;
  }
  return found;
}

/** The module a frame belongs to: the project's file, a package, or V8's own entries ((program), (garbage collector)). */
export function moduleOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  const nodeModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nodeModules) return nodeModules[1]!;
  const project = /(?:^|\/)((?:router|protocol|scheduler|durable-objects|config|functions|origin)\/[^?#]+)/.exec(url);
  return project ? project[1]! : url.replace(/^.*\//, "");
}

/** Self time per function (`name module:line`) and per module, largest first; `(idle)` is left out of the shares. */
export function summarizeProfile(profile: CpuProfile): { functions: SelfTime[]; modules: SelfTime[]; sampledMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const functions = new Map<string, number>();
  const modules = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber, scriptId } = byId.get(id)!.callFrame;
    if (functionName === "(idle)") continue;
    busyUs += us;
    const module = moduleOf(fileAt(profile.modules?.[scriptId], lineNumber) ?? (url.startsWith("wasm") ? "(wasm)" : url), functionName);
    const name = `${functionName || "(anonymous)"} ${module}${url ? `:${lineNumber + 1}` : ""}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    modules.set(module, (modules.get(module) ?? 0) + us);
  }
  const ranked = (m: Map<string, number>): SelfTime[] =>
    [...m].map(([name, us]) => ({ name, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 })).sort((a, b) => b.selfMs - a.selfMs);
  return { functions: ranked(functions), modules: ranked(modules), sampledMs: busyUs / 1000 };
}
