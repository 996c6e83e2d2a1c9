/**
 * @module The stack `npm start` runs, for the benchmark: scripts/start.ts itself is spawned (not
 * a look-alike), with its own ports and its state, keys and dev vars in a temporary folder, so
 * what is measured is what a user gets (the deploy bundle in two workerd processes, the local
 * origin, the demo models and tenants). `restart()` stops it and starts it again on the same
 * state, as a user's second `npm start` would: its isolates and sessions start fresh.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Tier } from "../../config/tiers.ts";
import type { SchedulerCounters } from "../../durable-objects/model-host/contract.ts";
import { AdminClient } from "../lib/admin-client.ts";
import { descendants, listeningPorts, REPO_ROOT } from "../lib/wrangler-dev.ts";
import type { TenantKey } from "./stack.ts";
import { cpuTicks, cpuTicksOf, TICKS_PER_SECOND, workerdCommandLine } from "./workerd-processes.ts";

const START_SCRIPT = join(REPO_ROOT, "scripts/start.ts");
/** What start.ts prints once the stack serves (scripts/lib/banner.ts). */
const READY_LINE = "hotpath ready on ";
const OUTPUT_KEPT = 20_000;

export interface NpmStartOptions {
  port: number;
  /** The local origin's port, as `npm start` runs one (0: none). */
  originPort: number;
  readyTimeoutMs?: number;
  /** Vars for the stack's dev vars file (start.ts adds its tokens to it), e.g. BENCH_ROUTES for the bare path. */
  vars?: Record<string, string>;
  signal?: AbortSignal;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

export class NpmStartStack {
  readonly url: string;
  readonly #options: NpmStartOptions;
  readonly #dir: string;
  #running: Running | undefined;

  private constructor(options: NpmStartOptions, dir: string) {
    this.#options = options;
    this.#dir = dir;
    this.url = `http://127.0.0.1:${options.port}`;
  }

  static async start(options: NpmStartOptions): Promise<NpmStartStack> {
    const stack = new NpmStartStack(options, mkdtempSync(join(tmpdir(), "hotpath-bench-start-")));
    try {
      await stack.#launch();
      return stack;
    } catch (error) {
      await stack.stop();
      throw error;
    }
  }

  /** The admin token and the demo key of each tier that start.ts wrote. */
  get keys(): Record<Tier | "admin", string> {
    return JSON.parse(readFileSync(join(this.#dir, "keys.json"), "utf8")) as Record<Tier | "admin", string>;
  }

  get admin(): AdminClient {
    return new AdminClient({ baseUrl: this.url, adminToken: this.keys.admin, timeoutMs: 120_000 });
  }

  /** The Silero OIP JSON request the banner's curl line sends. */
  get sileroRequest(): Uint8Array {
    return readFileSync(join(this.#dir, "requests/silero-vad.json"));
  }

  /** Everything start.ts and its children printed since the last (re)start. */
  output(): string {
    return this.#running?.output() ?? "";
  }

  /** CPU milliseconds spent so far by start.ts and every process below it (workerd, the origin). Linux only. */
  serverCpuMs(): number {
    const root = this.#running?.child.pid;
    if (root === undefined) return Number.NaN;
    return (cpuTicksOf([root, ...descendants(root)]) * 1000) / TICKS_PER_SECOND;
  }

  /**
   * CPU milliseconds spent so far by the ModelHosts' workerd process: the one below start.ts
   * that runs `workerd serve` and does not listen on the stack's port (that one is the router's).
   * A replica's thread is what bounds its throughput deployed, where routers scale out. Linux only.
   */
  hostCpuMs(): number {
    const root = this.#running?.child.pid;
    if (root === undefined) return Number.NaN;
    const hosts = descendants(root).filter((pid) => workerdCommandLine(pid) !== undefined && !listeningPorts(pid).includes(this.#options.port));
    if (hosts.length !== 1) return Number.NaN;
    return (cpuTicks(hosts[0]!) * 1000) / TICKS_PER_SECOND;
  }

  /** `count` tenants of `tier` named `<prefix>-<i>`, each with one key. */
  async tenants(tier: Tier, count: number, prefix: string): Promise<TenantKey[]> {
    const admin = this.admin;
    const keys: TenantKey[] = [];
    for (let i = 0; i < count; i++) {
      const tenant = `${prefix}-${i}`;
      await admin.putTenant(tenant, tier, ["*"]);
      keys.push({ tenant, tier, key: (await admin.createKey(tenant)).key });
    }
    return keys;
  }

  /** The scheduler counters of the model's first host (GET /admin/models/{m} -> hosts[0].counters). */
  async hostCounters(model: string): Promise<SchedulerCounters> {
    const counters = (await this.hostState(model)).counters;
    if (!counters) throw new Error(`GET /admin/models/${model} has no hosts[0].counters`);
    return counters;
  }

  /** The model's first host as the admin API shows it: its counters and the sessions it holds warm. */
  async hostState(model: string): Promise<{ counters?: SchedulerCounters; sessions?: { model: string }[] }> {
    const response = await fetch(`${this.url}/admin/models/${encodeURIComponent(model)}`, {
      headers: { authorization: `Bearer ${this.keys.admin}` },
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`GET /admin/models/${model}: ${response.status} ${text.slice(0, 300)}`);
    return (JSON.parse(text) as { hosts?: { counters?: SchedulerCounters; sessions?: { model: string }[] }[] }).hosts?.[0] ?? {};
  }

  /** Stops start.ts (as Ctrl-C would) and starts it again on the same state, keys and ports; ms until its banner. */
  async restart(): Promise<number> {
    await this.#halt();
    const started = performance.now();
    await this.#launch();
    return performance.now() - started;
  }

  async stop(): Promise<void> {
    try {
      await this.#halt();
    } finally {
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }

  async #launch(): Promise<void> {
    const { port, originPort, readyTimeoutMs = 300_000, signal } = this.#options;
    const args = ["--port", String(port), "--origin-port", String(originPort), "--persist-to", join(this.#dir, "state")];
    const varsFile = join(this.#dir, "dev.vars");
    args.push("--keys-file", join(this.#dir, "keys.json"), "--dev-vars", varsFile);
    if (this.#options.vars && !existsSync(varsFile))
      writeFileSync(
        varsFile,
        Object.entries(this.#options.vars)
          .map(([name, value]) => `${name}=${value}\n`)
          .join(""),
      );
    const child = spawn(process.execPath, [START_SCRIPT, ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (chunk: Buffer) => (output = (output + chunk.toString("utf8")).slice(-OUTPUT_KEPT));
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    this.#running = { child, exited, output: () => output };
    const deadline = Date.now() + readyTimeoutMs;
    while (!output.includes(`${READY_LINE}${this.url}`)) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`npm start exited before its banner:\n${output.slice(-3_000)}`);
      if (Date.now() > deadline) throw new Error(`npm start printed no banner within ${readyTimeoutMs} ms:\n${output.slice(-3_000)}`);
      if (signal?.aborted) throw new Error("aborted while npm start was starting");
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** SIGTERM (start.ts then stops the origin and both workerd processes), SIGKILL to the tree if it hangs. */
  async #halt(): Promise<void> {
    const running = this.#running;
    this.#running = undefined;
    if (!running || running.child.exitCode !== null || running.child.signalCode !== null) return;
    const tree = descendants(running.child.pid!);
    running.child.kill("SIGTERM");
    const timer = setTimeout(() => {
      for (const pid of [running.child.pid!, ...tree]) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }, 15_000);
    await running.exited;
    clearTimeout(timer);
  }
}
