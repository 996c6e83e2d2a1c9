/**
 * @module A hotpath stack in two `wrangler dev` sessions: one runs the router (and the
 * ModelRegistry), the other the ModelHost Durable Objects, which the router reaches through a
 * Durable Object binding with `script_name` (wrangler's dev registry connects the two sessions).
 *
 * Why: one `wrangler dev` runs the router and every Durable Object on one workerd thread, so
 * each request the router refuses takes time from the model's runs. In production the router's
 * isolates are not the ModelHost's; two sessions are the nearest local picture of that, at the
 * price of one TCP hop per call between them (a call to a Durable Object in production crosses
 * machines too).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Tier } from "../../config/tiers.ts";
import type { SchedulerCounters } from "../../durable-objects/model-host/contract.ts";
import { REPO_ROOT } from "../lib/wrangler-dev.ts";
import { Stack, type StackOptions, type TenantKey, type UploadOptions } from "./stack.ts";

const WRANGLER = resolve(REPO_ROOT, "node_modules/wrangler/bin/wrangler.js");
/** wrangler.toml's bucket for model bytes (the MODELS binding). */
const MODELS_BUCKET = "hotpath-models";

/** Runs a Node script to its end; rejects with its output when it fails. */
function run(script: string, args: string[], cwd: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0", PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` },
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (output += c.toString("utf8")));
    child.on("error", fail);
    child.on("exit", (code) => (code === 0 ? done() : fail(new Error(`${args.slice(0, 3).join(" ")} exited ${code}: ${output.slice(-600)}`))));
  });
}

/** What the overload and cost scenarios use of a stack, whichever the topology. */
export interface BenchStack {
  readonly url: string;
  readonly adminToken: string;
  upload(name: string, version: string, file: string, options?: UploadOptions): Promise<void>;
  tenants(tier: Tier, count: number, prefix?: string): Promise<TenantKey[]>;
  hostCounters(model: string): Promise<SchedulerCounters>;
  /** Where load goes: the router Worker's own socket, without wrangler's proxy (see Stack.entryUrl). */
  entryUrl(): Promise<string>;
  stop(): Promise<unknown>;
}

export interface SplitStackOptions extends Omit<StackOptions, "config" | "name"> {
  /** The host session's port (its own router answers there too, for the uploads). */
  hostPort: number;
}

/**
 * The repository's wrangler.toml with `main` made absolute (the copy lives in a temp dir) and
 * the ModelHost binding pointed at `hostScript`; the router's session then defines no ModelHost
 * of its own. Each edit must match, so a change to wrangler.toml fails here loudly.
 */
export function routerConfig(hostScript: string): string {
  const edits: [string, string][] = [
    ['main = "router/index.ts"', `main = ${JSON.stringify(resolve(REPO_ROOT, "router/index.ts"))}`],
    ['class_name = "ModelHost"', `class_name = "ModelHost"\nscript_name = ${JSON.stringify(hostScript)}`],
    ['new_sqlite_classes = ["ModelHost", "ModelRegistry"]', 'new_sqlite_classes = ["ModelRegistry"]'],
  ];
  let toml = readFileSync(resolve(REPO_ROOT, "wrangler.toml"), "utf8");
  for (const [from, to] of edits) {
    if (!toml.includes(from)) throw new Error(`wrangler.toml no longer has '${from}': update scripts/bench/split-stack.ts`);
    toml = toml.replace(from, to);
  }
  return toml;
}

export class SplitStack implements BenchStack {
  readonly router: Stack;
  readonly host: Stack;
  readonly #dir: string;

  private constructor(router: Stack, host: Stack, dir: string) {
    this.router = router;
    this.host = host;
    this.#dir = dir;
  }

  /** Starts the host session, then the router session bound to it; stops whatever started if either fails. */
  static async start(options: SplitStackOptions): Promise<SplitStack> {
    const label = options.label ?? "split";
    // Unique per stack: the dev registry is shared by every session on the machine.
    const hostScript = `hotpath-host-${label}-${options.hostPort}`;
    const dir = mkdtempSync(join(tmpdir(), `hotpath-${label}-config-`));
    const started: Stack[] = [];
    try {
      writeFileSync(join(dir, "wrangler.toml"), routerConfig(hostScript));
      const { hostPort, ...common } = options;
      started.push(await Stack.start({ ...common, port: hostPort, label: `${label}-host`, name: hostScript }));
      started.push(await Stack.start({ ...common, label: `${label}-router`, config: join(dir, "wrangler.toml") }));
      return new SplitStack(started[1]!, started[0]!, dir);
    } catch (error) {
      await Promise.allSettled(started.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  get url(): string {
    return this.router.url;
  }

  get adminToken(): string {
    return this.router.adminToken;
  }

  /**
   * Uploads to the host session first, then to the router's, whose upload asks the ModelHost (in
   * the host session) to inspect the version: the host finds the session it warmed for its own
   * upload (same name, version and bytes). The router's record names its own R2 key, and the
   * host reloads from that key whenever its object was evicted (workerd evicts an idle Durable
   * Object after seconds), so the bytes are then written under that key into the host's R2 too.
   */
  async upload(name: string, version: string, file: string, options: UploadOptions = {}): Promise<void> {
    await this.host.upload(name, version, file, options);
    await this.router.upload(name, version, file, options);
    const r2Key = await this.#routerR2Key(name, version);
    await run(WRANGLER, ["r2", "object", "put", `${MODELS_BUCKET}/${r2Key}`, "--file", file, "--local", "--persist-to", this.host.stateDir], REPO_ROOT);
  }

  async #routerR2Key(name: string, version: string): Promise<string> {
    const record = (await this.router.admin.getModel(name))?.versions.find((v) => v.version === version);
    if (!record) throw new Error(`the router has no record of ${name}@${version}`);
    return record.r2Key;
  }

  tenants(tier: Tier, count: number, prefix?: string): Promise<TenantKey[]> {
    return this.router.tenants(tier, count, prefix);
  }

  hostCounters(model: string): Promise<SchedulerCounters> {
    return this.router.hostCounters(model);
  }

  entryUrl(): Promise<string> {
    return this.router.entryUrl();
  }

  async stop(): Promise<void> {
    try {
      await Promise.allSettled([this.router.stop(), this.host.stop()]);
    } finally {
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }
}
