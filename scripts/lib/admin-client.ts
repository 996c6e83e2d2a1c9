/** @module A small typed client for hotpath's admin API (models, tenants, keys) for the CLIs and tests. */
import { createReadStream, readFileSync, statSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Tier } from "../../config/tiers.ts";
import type { Placement } from "../../protocol/model-record.ts";
export type { Placement };
import type { TensorSpec } from "../../protocol/oip/tensor.ts";

export type { Tier };

export interface ModelVersion {
  name: string;
  version: string;
  sha256: string;
  bytes: number;
  /** Where the registry keeps the version's bytes in R2. */
  r2Key: string;
  state: "warming" | "ready" | "unloaded";
  placement: Placement;
  maxBatch: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  createdAt: number;
}

export interface Model {
  name: string;
  defaultVersion?: string;
  pinnedVersion?: string;
  versions: ModelVersion[];
}

export interface UploadResult {
  name: string;
  defaultVersion?: string;
  version: ModelVersion;
}

export interface Tenant {
  id: string;
  tier: Tier;
  models: string[];
  createdAt: number;
  keyIds?: string[];
}

/** What deleting a version answers: its bytes stay in R2 until no router can route to it. */
export interface DeletedVersion {
  deleted: { name: string; version: string };
  bytesRemovedAt: string;
}

/** What load and unload answer: each version's repository state (READY, LOADING, UNAVAILABLE). */
export interface RepositoryChange {
  name: string;
  loaded?: boolean;
  unloaded?: boolean;
  versions: { version: string; state: string }[];
}

export interface CreatedKey {
  key: string;
  keyId: string;
  tenant: string;
  tier: Tier;
}

/**
 * An HTTP error answer, carrying the server's `{"error": "..."}` message and status. `foreign`:
 * the answer is not in hotpath's shape (an error without `{"error"}`, a success that is not
 * JSON), so the URL most likely points at another server.
 */
export class AdminApiError extends Error {
  override readonly name = "AdminApiError";
  readonly status: number;
  readonly foreign: boolean;
  /** What was asked, e.g. `GET /admin/models`, and the answer's content type: for messages about a foreign server. */
  readonly request: string;
  readonly contentType: string;
  constructor(status: number, message: string, details: { foreign?: boolean; request?: string; contentType?: string } = {}) {
    super(`${status}: ${message}`);
    this.status = status;
    this.foreign = details.foreign ?? false;
    this.request = details.request ?? "";
    this.contentType = details.contentType ?? "";
  }
}

/** The query the upload route takes: placement, batching and the replica set's bounds. */
export interface UploadOptions {
  /** edge, auto or origin; the server's default (edge) when absent. */
  placement?: Placement;
  maxBatch?: number;
  maxQueueDelayMicroseconds?: number;
  minReplicas?: number;
  maxReplicas?: number;
  /** Share of inferences logged to R2 with their answer (`log_payloads`); the server's default is 0. */
  logPayloads?: number;
}

export interface AdminClientOptions {
  baseUrl: string;
  adminToken: string;
  /** Per JSON call; uploads use it as an idle-socket timeout instead. Default 60 s. */
  timeoutMs?: number;
}

/** The `{"error"}` message of an error body, or undefined when the body is not in that shape. */
function hotpathError(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed?.error === "string") return parsed.error;
  } catch {
    // not JSON: not hotpath's shape
  }
  return undefined;
}

/** Reads an answer: JSON on 2xx, else the AdminApiError it stands for (marked foreign when not in hotpath's shape). */
function readAnswer<T>(status: number, contentType: string, text: string, request: string): T {
  if (status >= 200 && status < 300) {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AdminApiError(status, `the answer is not JSON (${contentType || "no content type"})`, { foreign: true, request, contentType });
    }
  }
  const message = hotpathError(text);
  if (message !== undefined) throw new AdminApiError(status, message, { request, contentType });
  throw new AdminApiError(status, text.slice(0, 300).trim() || "(empty body)", { foreign: true, request, contentType });
}

export class AdminClient {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(options: AdminClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.adminToken;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** True when `/v2/health/ready` answers 200; false when nothing answers or it is not ready. */
  async health(): Promise<boolean> {
    try {
      const response = await fetch(`${this.baseUrl}/v2/health/ready`, { signal: AbortSignal.timeout(5_000) });
      await response.body?.cancel();
      return response.status === 200;
    } catch {
      return false;
    }
  }

  async listModels(): Promise<Model[]> {
    return (await this.#json<{ models: Model[] }>("GET", "/admin/models")).models;
  }

  /** The model, or undefined when the registry does not know it. */
  async getModel(name: string): Promise<Model | undefined> {
    try {
      return await this.#json<Model>("GET", `/admin/models/${encodeURIComponent(name)}`);
    } catch (error) {
      if (error instanceof AdminApiError && error.status === 404 && !error.foreign) return undefined;
      throw error;
    }
  }

  /**
   * Streams an .onnx file with a Content-Length (the Worker refuses uploads without one and
   * never buffers them), reporting bytes handed to the socket.
   */
  uploadModel(
    name: string,
    version: string,
    filePath: string,
    options: UploadOptions = {},
    onProgress?: (sent: number, total: number) => void,
  ): Promise<UploadResult> {
    const total = statSync(filePath).size;
    const query = new URLSearchParams();
    if (options.placement) query.set("placement", options.placement);
    if (options.maxBatch !== undefined) query.set("max_batch", String(options.maxBatch));
    if (options.maxQueueDelayMicroseconds !== undefined) query.set("max_queue_delay_microseconds", String(options.maxQueueDelayMicroseconds));
    if (options.minReplicas !== undefined) query.set("min_replicas", String(options.minReplicas));
    if (options.maxReplicas !== undefined) query.set("max_replicas", String(options.maxReplicas));
    if (options.logPayloads !== undefined) query.set("log_payloads", String(options.logPayloads));
    const qs = query.size > 0 ? `?${query}` : "";
    const url = new URL(`${this.baseUrl}/admin/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}${qs}`);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;

    return new Promise<UploadResult>((resolvePromise, reject) => {
      let answered = false;
      const req = send(url, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${this.#token}`,
          "content-type": "application/octet-stream",
          "content-length": String(total),
        },
      });
      req.setTimeout(this.#timeoutMs, () => req.destroy(new Error(`upload of ${name}@${version}: no progress for ${this.#timeoutMs} ms`)));
      req.on("response", (response: IncomingMessage) => {
        answered = true;
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          // Inside an event handler a throw would crash the process: every outcome goes through the promise.
          try {
            resolvePromise(readAnswer<UploadResult>(response.statusCode ?? 0, response.headers["content-type"] ?? "", text, `PUT ${url.pathname}`));
          } catch (error) {
            reject(error);
          }
        });
      });
      // The server may refuse early (409, 413) and close while we still write: its answer wins.
      req.on("error", (error) => {
        if (!answered) reject(error);
      });

      const file = createReadStream(filePath, { highWaterMark: 1 << 20 });
      let sent = 0;
      onProgress?.(0, total);
      file.on("error", (error) => req.destroy(error));
      file.on("data", (chunk) => {
        sent += chunk.length;
        if (!req.write(chunk)) {
          file.pause();
          req.once("drain", () => file.resume());
        }
        onProgress?.(sent, total);
      });
      file.on("end", () => req.end());
    });
  }

  /** `force`: needed to delete the default or the last ready version (409 otherwise). */
  async deleteVersion(name: string, version: string, force = false): Promise<DeletedVersion> {
    return this.#json<DeletedVersion>(
      "DELETE",
      `/admin/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}${force ? "?force=true" : ""}`,
    );
  }

  /** Creates or updates a tenant; models defaults to every model ("*"). */
  async putTenant(id: string, tier: Tier, models: string[] = ["*"]): Promise<Tenant> {
    return this.#json<Tenant>("PUT", `/admin/tenants/${encodeURIComponent(id)}`, { tier, models });
  }

  async getTenant(id: string): Promise<Tenant | undefined> {
    try {
      return await this.#json<Tenant>("GET", `/admin/tenants/${encodeURIComponent(id)}`);
    } catch (error) {
      if (error instanceof AdminApiError && error.status === 404 && !error.foreign) return undefined;
      throw error;
    }
  }

  /** A new key for the tenant; the server shows it this once. */
  async createKey(tenant: string): Promise<CreatedKey> {
    return this.#json<CreatedKey>("POST", `/admin/tenants/${encodeURIComponent(tenant)}/keys`);
  }

  async revokeKey(tenant: string, keyId: string): Promise<void> {
    await this.#json("DELETE", `/admin/tenants/${encodeURIComponent(tenant)}/keys/${encodeURIComponent(keyId)}`);
  }

  /** The status a tenant key gets on `GET /v2/models/{model}`: 200 when it still authenticates. */
  async keyStatus(key: string, model: string): Promise<number> {
    const response = await fetch(`${this.baseUrl}/v2/models/${encodeURIComponent(model)}`, {
      headers: { authorization: `Bearer ${key}` },
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    await response.body?.cancel();
    return response.status;
  }

  /** `{"version": "2"}` pins the default; null returns it to the highest ready version. */
  async setDefault(name: string, version: string | null): Promise<Model> {
    return this.#json<Model>("PUT", `/admin/models/${encodeURIComponent(name)}/default`, { version });
  }

  /** The OIP repository extension: marks every version of the model ready (load) or unloaded (unload). */
  async setLoaded(name: string, loaded: boolean): Promise<RepositoryChange> {
    return this.#json<RepositoryChange>("POST", `/v2/repository/models/${encodeURIComponent(name)}/${loaded ? "load" : "unload"}`);
  }

  /** Any admin JSON route, for the routes this client has no method for yet. */
  async get<T>(path: string): Promise<T> {
    return this.#json<T>("GET", path);
  }

  /** Any admin JSON route with any method (alert rules), the body sent as JSON. */
  async send<T>(method: "PUT" | "DELETE" | "POST", path: string, body?: unknown): Promise<T> {
    return this.#json<T>(method, path, body);
  }

  /** Any admin route answering text (the Prometheus `/metrics`). */
  async getText(path: string): Promise<string> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${this.#token}` },
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await response.text();
    if (response.ok) return text;
    return readAnswer<never>(response.status, response.headers.get("content-type") ?? "", text, `GET ${path.split("?")[0]}`);
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await response.text();
    return readAnswer<T>(response.status, response.headers.get("content-type") ?? "", text, `${method} ${path.split("?")[0]}`);
  }
}

/**
 * The admin token for the CLIs: an explicit flag, then HOTPATH_ADMIN_TOKEN, then the `admin`
 * entry of the local stack's keys file (written by `npm start`).
 */
export function resolveAdminToken(flag: string | undefined, keysFile: string): string {
  if (flag) return flag;
  const fromEnv = process.env.HOTPATH_ADMIN_TOKEN;
  if (fromEnv) return fromEnv;
  try {
    const keys = JSON.parse(readFileSync(keysFile, "utf8")) as { admin?: unknown };
    if (typeof keys.admin === "string" && keys.admin) return keys.admin;
  } catch {
    // no keys file: the error below says what to do
  }
  throw new Error(`no admin token: pass --admin-token, set HOTPATH_ADMIN_TOKEN, or run \`npm start\` once to create ${keysFile}`);
}

export const DEFAULT_URL = "http://127.0.0.1:8787";

/** Base URL for the CLIs: --url, then HOTPATH_URL, then the local stack. */
export function resolveBaseUrl(flag: string | undefined): string {
  return flag || process.env.HOTPATH_URL || DEFAULT_URL;
}
