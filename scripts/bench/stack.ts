/**
 * @module A throwaway hotpath stack for the benchmark and the overload test: `wrangler dev` on
 * 127.0.0.1 with its own port, state directory and env file (ADMIN_TOKEN, SCHEDULER_POLICY,
 * BENCH_ROUTES, ...), model uploads with batching and replica options, and tenants with keys.
 * `stop()` ends wrangler and removes the temporary directory; call it in a `finally`.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Tier } from "../../config/tiers.ts";
import type { SchedulerCounters } from "../../durable-objects/model-host/contract.ts";
import { AdminClient, type UploadOptions } from "../lib/admin-client.ts";
import { workerEntryUrl } from "./workerd-processes.ts";
import { REPO_ROOT, startWranglerDev, type WranglerDev, type WranglerDevOptions } from "../lib/wrangler-dev.ts";

export const FIXTURES_DIR = resolve(REPO_ROOT, ".hotpath/fixtures");
export const MODELS_DIR = resolve(REPO_ROOT, ".hotpath/models");

const STATE_DIR = "state";

export interface StackOptions {
  /** 127.0.0.1 port; the benchmark and its tests use 8800-8899. */
  port: number;
  /** Extra env vars (override wrangler.toml's [vars]): SCHEDULER_POLICY, BENCH_ROUTES, HOST_MAX_QUEUE_LENGTH. */
  vars?: Record<string, string>;
  /** A name for the temp dir, to tell stacks apart in /tmp. */
  label?: string;
  /** Every line wrangler prints. */
  onLine?: (line: string) => void;
  /** Aborting while wrangler starts stops it and rejects (Ctrl-C during startup). */
  signal?: AbortSignal;
  /** wrangler's log level; default `warn`, which saves each request a log call (see WranglerDevOptions). */
  logLevel?: WranglerDevOptions["logLevel"];
  /** Another wrangler config (the split topology's router, whose ModelHost lives in another session). */
  config?: string;
  /** The Worker's name, for a session other sessions bind to. */
  name?: string;
}

export type { UploadOptions };

export interface TenantKey {
  tenant: string;
  tier: Tier;
  key: string;
}

export class Stack {
  readonly url: string;
  readonly admin: AdminClient;
  readonly adminToken: string;
  readonly #dev: WranglerDev;
  readonly #dir: string;

  private constructor(dev: WranglerDev, dir: string, adminToken: string) {
    this.#dev = dev;
    this.#dir = dir;
    this.url = dev.url;
    this.adminToken = adminToken;
    this.admin = new AdminClient({ baseUrl: dev.url, adminToken, timeoutMs: 120_000 });
  }

  static async start(options: StackOptions): Promise<Stack> {
    const dir = mkdtempSync(join(tmpdir(), `hotpath-${options.label ?? "bench"}-`));
    try {
      const adminToken = `hpadmin_${randomBytes(24).toString("base64url")}`;
      const vars = { ADMIN_TOKEN: adminToken, ...options.vars };
      const envFile = join(dir, "dev.vars");
      writeFileSync(
        envFile,
        Object.entries(vars)
          .map(([k, v]) => `${k}=${v}\n`)
          .join(""),
        { mode: 0o600 },
      );
      const dev = await startWranglerDev({
        host: "127.0.0.1",
        port: options.port,
        persistTo: join(dir, STATE_DIR),
        envFile,
        readyTimeoutMs: 120_000,
        onLine: options.onLine,
        signal: options.signal,
        logLevel: options.logLevel ?? "warn",
        config: options.config,
        name: options.name,
      });
      return new Stack(dev, dir, adminToken);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Where this stack's local R2, KV and Durable Object state live (wrangler's --persist-to). */
  get stateDir(): string {
    return join(this.#dir, STATE_DIR);
  }

  /**
   * The Worker's own entry socket, leaving wrangler's proxy (a second workerd process, for live
   * reload) out of a load test's path and CPU; the proxied URL where it cannot be found.
   */
  async entryUrl(): Promise<string> {
    return (await workerEntryUrl(this.pid, Number(new URL(this.url).port))) ?? this.url;
  }

  /** The wrangler launcher's PID (workerd runs below it). */
  get pid(): number {
    return this.#dev.pid;
  }

  recentOutput(): string {
    return this.#dev.recentOutput();
  }

  get exited(): Promise<number | null> {
    return this.#dev.exited;
  }

  async stop(): Promise<void> {
    try {
      await this.#dev.stop();
    } finally {
      rmSync(this.#dir, { recursive: true, force: true });
    }
  }

  /** Uploads an .onnx file as `name@version` (placement edge unless said otherwise) with the batching and replica options given. */
  async upload(name: string, version: string, file: string, options: UploadOptions = {}): Promise<void> {
    await this.admin.uploadModel(name, version, file, { placement: "edge", ...options });
  }

  /** `count` tenants of `tier` named `<prefix>-<i>`, each with one key. */
  async tenants(tier: Tier, count: number, prefix: string = tier): Promise<TenantKey[]> {
    const keys: TenantKey[] = [];
    for (let i = 0; i < count; i++) {
      const tenant = `${prefix}-${i}`;
      await this.admin.putTenant(tenant, tier, ["*"]);
      keys.push({ tenant, tier, key: (await this.admin.createKey(tenant)).key });
    }
    return keys;
  }

  /** The scheduler counters of replica 0 of a model (GET /admin/models/{m} -> hosts[0].counters). */
  async hostCounters(model: string): Promise<SchedulerCounters> {
    const response = await fetch(`${this.url}/admin/models/${encodeURIComponent(model)}`, {
      headers: { authorization: `Bearer ${this.adminToken}` },
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`GET /admin/models/${model}: ${response.status} ${text.slice(0, 300)}`);
    const body = JSON.parse(text) as { hosts?: { counters?: SchedulerCounters }[] };
    const counters = body.hosts?.[0]?.counters;
    if (!counters) throw new Error(`GET /admin/models/${model} has no hosts[0].counters: ${text.slice(0, 300)}`);
    return counters;
  }
}

/** The path of a prepared model (`npm run models`), or a clear error. */
export function modelFile(name: string, version = "1"): string {
  const path = join(MODELS_DIR, name, version, "model.onnx");
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run models\` first`);
  return path;
}

/** The path of a fixture file (`npm run models`), or a clear error. */
export function fixtureFile(name: string): string {
  const path = join(FIXTURES_DIR, name);
  if (!existsSync(path) || statSync(path).size === 0) throw new Error(`${path} is missing: run \`npm run models\` first`);
  return path;
}
