/** @module A small typed client for hotpath's admin API (models and their variants, tenants, keys) for the CLIs and tests. */
import { readFileSync } from "node:fs";
import type { Tier } from "../../config/tiers.ts";
import type { CacheScope, Placement, ResponseCacheSetting, VariantRecord } from "../../protocol/model-record.ts";
import type { TensorSpec } from "../../protocol/oip/tensor.ts";
import { AdminApiError, readAnswer } from "./admin-answer.ts";
import { streamUpload } from "./stream-upload.ts";

export { AdminApiError };
export type { CacheScope, Placement, Tier, VariantRecord };

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
  /** The response cache's setting; absent when the version does not cache its answers. */
  cache?: ResponseCacheSetting;
  /** Other bytes of the version (int8, fp16, ...), cheapest first; absent when it has none. */
  variants?: VariantRecord[];
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

/** What a variant upload answers: the variant as registered (its measured accuracy) and all of the version's variants. */
export interface VariantUploadResult {
  name: string;
  version: string;
  variant: VariantRecord;
  variants: VariantRecord[];
}

/** What deleting a variant answers: its bytes stay in R2 until no router can route to them. */
export interface DeletedVariant {
  deleted: { name: string; version: string; variant: string };
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

/** The query the upload route takes: placement, batching, the replica set's bounds and the response cache. */
export interface UploadOptions {
  /** edge, auto or origin; the server's default (edge) when absent. */
  placement?: Placement;
  maxBatch?: number;
  maxQueueDelayMicroseconds?: number;
  minReplicas?: number;
  maxReplicas?: number;
  /** Share of inferences logged to R2 with their answer (`log_payloads`); the server's default is 0. */
  logPayloads?: number;
  /** Seconds an answer stays in the response cache (`cache_ttl_seconds`); absent or 0: no cache. */
  cacheTtlSeconds?: number;
  /** Who may be served a cached answer: its tenant (the server's default) or any tenant sending the same inputs. */
  cacheScope?: CacheScope;
  /** Says whether the model carries state between requests (its answers are then never cached); absent: the server infers it. */
  stateful?: boolean;
}

/** The query the variant upload route takes. */
export interface VariantUploadOptions {
  /** Largest max absolute error against the default's outputs on the probes; over it the upload is refused (422). */
  maxError?: number;
  /** Generated probe inputs (rows) the accuracy guard runs; the server's default is 16. */
  probes?: number;
}

export interface AdminClientOptions {
  baseUrl: string;
  adminToken: string;
  /** Per JSON call; uploads use it as an idle-socket timeout instead. Default 60 s. */
  timeoutMs?: number;
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
    const query = new URLSearchParams();
    if (options.placement) query.set("placement", options.placement);
    if (options.maxBatch !== undefined) query.set("max_batch", String(options.maxBatch));
    if (options.maxQueueDelayMicroseconds !== undefined) query.set("max_queue_delay_microseconds", String(options.maxQueueDelayMicroseconds));
    if (options.minReplicas !== undefined) query.set("min_replicas", String(options.minReplicas));
    if (options.maxReplicas !== undefined) query.set("max_replicas", String(options.maxReplicas));
    if (options.logPayloads !== undefined) query.set("log_payloads", String(options.logPayloads));
    if (options.cacheTtlSeconds !== undefined) query.set("cache_ttl_seconds", String(options.cacheTtlSeconds));
    if (options.cacheScope !== undefined) query.set("cache_scope", options.cacheScope);
    if (options.stateful !== undefined) query.set("stateful", String(options.stateful));
    const path = `/admin/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
    return this.#upload<UploadResult>(path, query, filePath, `${name}@${version}`, onProgress);
  }

  /**
   * Other bytes of a version under a name (`int8`, `fp16`), streamed as uploadModel streams: the
   * server checks them against the version's signature (400) and measures them against the
   * default's outputs on probe inputs, refusing them over `maxError` (422) with nothing kept.
   */
  uploadVariant(
    name: string,
    version: string,
    variant: string,
    filePath: string,
    options: VariantUploadOptions = {},
    onProgress?: (sent: number, total: number) => void,
  ): Promise<VariantUploadResult> {
    const query = new URLSearchParams({ placement: "edge" });
    if (options.maxError !== undefined) query.set("max_error", String(options.maxError));
    if (options.probes !== undefined) query.set("probes", String(options.probes));
    return this.#upload<VariantUploadResult>(this.#variantPath(name, version, variant), query, filePath, `${name}@${version} variant ${variant}`, onProgress);
  }

  /** The version is published without the variant at once; requests pinning it then get 400. */
  async deleteVariant(name: string, version: string, variant: string): Promise<DeletedVariant> {
    return this.#json<DeletedVariant>("DELETE", this.#variantPath(name, version, variant));
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

  #variantPath(name: string, version: string, variant: string): string {
    return `/admin/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}/variants/${encodeURIComponent(variant)}`;
  }

  /** Streams the file; the client's timeout bounds the time without progress, not the whole upload. */
  #upload<T>(path: string, query: URLSearchParams, filePath: string, label: string, onProgress?: (sent: number, total: number) => void): Promise<T> {
    const url = new URL(`${this.baseUrl}${path}${query.size > 0 ? `?${query}` : ""}`);
    return streamUpload<T>({ url, token: this.#token, filePath, label, idleTimeoutMs: this.#timeoutMs, onProgress });
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
