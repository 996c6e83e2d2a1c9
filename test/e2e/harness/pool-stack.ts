/**
 * @module The origin pool as real processes on 127.0.0.1, for the end-to-end files: `wrangler dev`
 * (the edge) with its own state directory and env file, origin processes (origin/server.ts, cpu,
 * one thread each, each with its own disk cache), and optionally a fault proxy listed as one more
 * origin in front of o2. Every port is one the system picked. Every process is registered with
 * the file's Cleanup before anyone waits for it, so a failed start leaves nothing running.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchOrigin, waitReady, type LaunchedOrigin } from "../../../origin/launch.ts";
import type { Tensor } from "../../../protocol/oip/tensor.ts";
import { AdminClient, type UploadOptions, type UploadResult } from "../../../scripts/lib/admin-client.ts";
import { startWranglerDev } from "../../../scripts/lib/wrangler-dev.ts";
import type { Cleanup } from "./cleanup.ts";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.ts";
import { call, infer, modelReadyOn, tenantKey, type Reply } from "./http.ts";
import { waitFor } from "./load.ts";
import type { ModelFile } from "./models.ts";
import { freePorts } from "./ports.ts";

const HOST = "127.0.0.1";
/**
 * The edge's ModelHost queue. Under wrangler dev the Worker and every ModelHost share one thread,
 * so a host's queue holds requests only while a batch waits to fill, and the default of 128 is
 * never reached on a small machine; a queue of 2 gives the edge a capacity 16 clients overload.
 */
export const EDGE_QUEUE_LENGTH = 2;
const EDGE_READY_TIMEOUT_MS = 90_000;
const ORIGIN_READY_TIMEOUT_MS = 60_000;
const ORIGIN_STOP_GRACE_MS = 2_000;

/** The real origin processes; the fault proxy in front of o2 is listed as `o3`. */
export type OriginId = "o1" | "o2";
export const FAULTY_ID = "o3";

export interface PoolStackOptions {
  /** Names the temp directory, to tell the files' stacks apart in /tmp. */
  label: string;
  /** The origins to list and start, with no model: the edge assigns them at upload. */
  origins: OriginId[];
  /** A fault proxy in front of o2, listed as o3 (needs o2). */
  faultProxy?: boolean;
  /** More edge vars (they override wrangler.toml's), e.g. a malformed limit to see it fail closed. */
  vars?: Record<string, string>;
}

/** What `GET /admin/origins` says of one origin. */
export interface OriginView {
  id: string;
  usable: boolean;
  health: { state: string; reason?: string };
}

export class PoolStack {
  readonly edgeUrl: string;
  readonly adminToken = `e2e-admin-${randomUUID()}`;
  readonly originToken = `e2e-origin-${randomUUID()}`;
  readonly admin: AdminClient;
  readonly #cleanup: Cleanup;
  readonly #scratch: string;
  readonly #ports: Record<OriginId, number>;
  readonly #running = new Map<OriginId, { origin: LaunchedOrigin; forget: () => void }>();
  #proxy: FaultProxy | undefined;
  #key: string | undefined;

  private constructor(cleanup: Cleanup, scratch: string, edgePort: number, ports: Record<OriginId, number>) {
    this.#cleanup = cleanup;
    this.#scratch = scratch;
    this.#ports = ports;
    this.edgeUrl = `http://${HOST}:${edgePort}`;
    this.admin = new AdminClient({ baseUrl: this.edgeUrl, adminToken: this.adminToken, timeoutMs: 120_000 });
  }

  /** Starts the edge and the origins side by side, then makes a premium tenant and its key. */
  static async start(cleanup: Cleanup, options: PoolStackOptions): Promise<PoolStack> {
    assert.ok(!options.faultProxy || options.origins.includes("o2"), "the fault proxy stands in front of o2");
    const scratch = mkdtempSync(join(tmpdir(), `hotpath-e2e-${options.label}-`));
    cleanup.finally(() => rmSync(scratch, { recursive: true, force: true }));
    const [edgePort, o1, o2] = await freePorts(3, HOST);
    const stack = new PoolStack(cleanup, scratch, edgePort!, { o1: o1!, o2: o2! });
    const listed: { id: string; url: string }[] = options.origins.map((id) => ({ id, url: stack.originUrl(id) }));
    if (options.faultProxy) {
      stack.#proxy = await cleanup.start(startFaultProxy({ host: HOST, target: stack.originUrl("o2") }), (proxy) => proxy.close());
      listed.push({ id: FAULTY_ID, url: stack.#proxy.url });
    }
    // The env file replaces .dev.vars and overrides wrangler.toml's [vars].
    const envFile = join(scratch, "edge.env");
    const vars = {
      ADMIN_TOKEN: stack.adminToken,
      ORIGIN_TOKEN: stack.originToken,
      ORIGINS: JSON.stringify(listed),
      HOST_MAX_QUEUE_LENGTH: String(EDGE_QUEUE_LENGTH),
      ...options.vars,
    };
    writeFileSync(
      envFile,
      Object.entries(vars)
        .map(([name, value]) => `${name}=${value}\n`)
        .join(""),
      { mode: 0o600 },
    );
    const edge = cleanup.start(
      startWranglerDev({
        host: HOST,
        port: edgePort,
        persistTo: join(scratch, "state"),
        envFile,
        readyTimeoutMs: EDGE_READY_TIMEOUT_MS,
        signal: cleanup.signal,
      }),
      (dev) => dev.stop(),
    );
    await Promise.all([edge, ...options.origins.map((id) => stack.startOrigin(id, []))]);
    stack.#key = await tenantKey(stack.admin, `e2e-${options.label}`, "premium");
    return stack;
  }

  /** A premium tenant's key. */
  get key(): string {
    assert.ok(this.#key, "the stack has no tenant key yet");
    return this.#key;
  }

  /** The fault proxy listed as o3. */
  get proxy(): FaultProxy {
    assert.ok(this.#proxy, "this stack has no fault proxy");
    return this.#proxy;
  }

  originUrl(id: OriginId): string {
    return `http://${HOST}:${this.#ports[id]}`;
  }

  cacheDir(id: OriginId): string {
    return join(this.#scratch, `cache-${id}`);
  }

  isRunning(id: OriginId): boolean {
    return this.#running.has(id);
  }

  origin(id: OriginId): LaunchedOrigin {
    const running = this.#running.get(id);
    assert.ok(running, `origin ${id} is not running`);
    return running.origin;
  }

  /** Starts an origin on its port with `models` assigned, and waits until they are warm. */
  async startOrigin(id: OriginId, models: ModelFile[]): Promise<LaunchedOrigin> {
    assert.ok(!this.#running.has(id), `origin ${id} is already running`);
    const origin = await launchOrigin({
      port: this.#ports[id],
      host: HOST,
      edge: this.edgeUrl,
      token: this.originToken,
      models: models.map((m) => `${m.name}@${m.version}`),
      cacheDir: this.cacheDir(id),
      args: ["--id", id, "--threads", "1"],
      readyTimeoutMs: 0,
    });
    this.#running.set(id, { origin, forget: this.#cleanup.add(() => origin.stop(ORIGIN_STOP_GRACE_MS)) });
    await waitReady(origin, ORIGIN_READY_TIMEOUT_MS);
    return origin;
  }

  /** SIGKILL: no draining, connections reset mid-request. */
  async killOrigin(id: OriginId): Promise<void> {
    const { origin, forget } = this.#take(id);
    origin.child.kill("SIGKILL");
    await origin.exited;
    forget();
  }

  /** SIGTERM: requests in flight finish first. */
  async stopOrigin(id: OriginId): Promise<void> {
    const { origin, forget } = this.#take(id);
    await origin.stop(5_000);
    forget();
  }

  #take(id: OriginId): { origin: LaunchedOrigin; forget: () => void } {
    const running = this.#running.get(id);
    assert.ok(running, `origin ${id} is not running`);
    this.#running.delete(id);
    return running;
  }

  upload(model: ModelFile, options: UploadOptions): Promise<UploadResult> {
    return this.admin.uploadModel(model.name, model.version, model.file, options);
  }

  /** One inference through the edge with the premium key (binary both ways). */
  infer(model: ModelFile, input: Tensor, deadlineMs: number): Promise<Reply> {
    return infer(this.edgeUrl, this.key, model.name, input, deadlineMs);
  }

  /** Waits until each origin in `ids` reports `model` ready. */
  async waitWarm(model: ModelFile, ids: OriginId[], timeoutMs = 60_000): Promise<void> {
    await waitFor(
      `${model.name} ready on ${ids.join(", ")}`,
      async () => {
        for (const id of ids) if (!(await modelReadyOn(this.originUrl(id), model.name, this.originToken))) return false;
        return true;
      },
      timeoutMs,
    );
  }

  /** The pool as the edge sees it: `GET /admin/origins`. */
  async originViews(): Promise<OriginView[]> {
    const response = await call(this.edgeUrl, "/admin/origins", { key: this.adminToken, timeoutMs: 10_000 });
    const text = await response.text();
    assert.equal(response.status, 200, text);
    return (JSON.parse(text) as { origins: OriginView[] }).origins;
  }
}
