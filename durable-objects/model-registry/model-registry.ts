/**
 * @module ModelRegistry: the one consistent writer of model metadata (a single instance,
 * "global"). It keeps versions in SQLite, warms the ModelHosts that serve a model before a new
 * default version takes traffic (hot swap), and publishes each model's record to KV, where the
 * router reads it without a round trip to this object.
 */
import { DurableObject } from "cloudflare:workers";
import { HttpError } from "../../protocol/errors.ts";
import { replyOf, type RpcReply } from "../../protocol/rpc-reply.ts";
import type { HostModel } from "../model-host/contract.ts";
import { catalogKey, type ModelRecord, type ModelVersionRecord, type VersionState } from "../../protocol/model-record.ts";
import { RegistryTables } from "./tables.ts";

export const REGISTRY_NAME = "global";

export class ModelRegistry extends DurableObject<Env> {
  readonly #tables: RegistryTables;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#tables = new RegistryTables(ctx.storage.sql);
  }

  get(name: string): ModelRecord | undefined {
    return this.#tables.model(name);
  }

  list(): ModelRecord[] {
    return this.#tables.modelNames().flatMap((name) => this.#tables.model(name) ?? []);
  }

  /**
   * Adds a validated version. It becomes servable at once by explicit version; it becomes the
   * default only after every host already serving the model has warmed it.
   */
  async register(version: Omit<ModelVersionRecord, "state" | "createdAt">): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      this.#insertWarming(version);
      await this.#publish(version.name);
      await this.#warmHosts(version.name, version);
      return this.#setState(version.name, version.version, "ready");
    }, "registering the model");
  }

  /**
   * First half of registering a version that runs on the origin pool: the edge cannot load it
   * (too big for an isolate), so it is recorded as `warming` with no signature yet, which lets
   * an origin fetch it; `completeOriginVersion` adds the signature the origin read and makes it
   * ready. Not the default until then.
   */
  async addPendingVersion(version: Omit<ModelVersionRecord, "state" | "createdAt">): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      this.#insertWarming(version);
      return this.#publish(version.name);
    }, "registering the model");
  }

  async completeOriginVersion(name: string, version: string, signature: Pick<ModelVersionRecord, "inputs" | "outputs">): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      this.#requireVersion(name, version);
      this.#tables.updateSignature(name, version, signature.inputs, signature.outputs);
      return this.#setState(name, version, "ready");
    }, "registering the model");
  }

  /**
   * Removes a version and returns its record, so the caller can delete its bytes. Removing the
   * default, or the last ready version, changes what unversioned requests get (another version,
   * or nothing at all), so it takes `force`: a plain delete of a stale version cannot do that.
   */
  async remove(name: string, version: string, force = false): Promise<RpcReply<ModelVersionRecord>> {
    return replyOf(async () => {
      const record = this.#requireVersion(name, version);
      if (!force) this.#refuseUnforcedRemoval(name, record);
      this.#tables.deleteVersion(name, version);
      if (this.#tables.pinned(name) === version) this.#tables.setPinned(name, undefined);
      await this.#publish(name);
      await this.#dropFromHosts(name, version);
      return record;
    }, "removing the version");
  }

  /** Pins the default version (undefined: back to the highest ready one), warming it first. */
  async pin(name: string, version: string | undefined): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      if (version !== undefined) await this.#warmHosts(name, this.#requireVersion(name, version));
      this.#tables.setPinned(name, version);
      return this.#publish(name);
    }, "pinning the default");
  }

  /** OIP model_repository load/unload: an unloaded version is kept but not served. */
  async setState(name: string, version: string | undefined, state: "ready" | "unloaded"): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      const targets = version ? [this.#requireVersion(name, version)] : (this.#tables.model(name)?.versions ?? []);
      if (targets.length === 0) throw new HttpError(404, `unknown model '${name}'`);
      for (const target of targets) {
        if (state === "ready") await this.#warmHosts(name, target);
        this.#tables.updateState(name, target.version, state);
        if (state === "unloaded") await this.#dropFromHosts(name, target.version);
      }
      return this.#publish(name);
    }, "changing the model's state");
  }

  /** Called by a ModelHost when it first serves a model, so swaps know whom to warm. */
  recordHost(model: string, host: string): void {
    this.#tables.addHost(model, host);
  }

  #refuseUnforcedRemoval(name: string, record: ModelVersionRecord): void {
    const model = this.#tables.model(name);
    const otherReady = model?.versions.some((v) => v.version !== record.version && v.state === "ready") ?? false;
    let why: string | undefined;
    if (model?.defaultVersion === record.version) why = "is the default version";
    else if (record.state === "ready" && !otherReady) why = "is the last ready version";
    if (why) throw new HttpError(409, `version '${record.version}' of model '${name}' ${why}; add ?force=true to delete it anyway`);
  }

  /** A new version, not yet eligible as default; 409 when the version exists. */
  #insertWarming(version: Omit<ModelVersionRecord, "state" | "createdAt">): void {
    if (this.#tables.version(version.name, version.version)) {
      throw new HttpError(409, `model '${version.name}' already has version '${version.version}'; delete it first`);
    }
    this.#tables.insertVersion({ ...version, state: "warming", createdAt: Date.now() });
  }

  async #setState(name: string, version: string, state: VersionState): Promise<ModelRecord> {
    this.#tables.updateState(name, version, state);
    return this.#publish(name);
  }

  #requireVersion(name: string, version: string): ModelVersionRecord {
    const record = this.#tables.version(name, version);
    if (!record) throw new HttpError(404, `unknown version '${version}' of model '${name}'`);
    return record;
  }

  async #publish(name: string): Promise<ModelRecord> {
    const record = this.#tables.model(name);
    if (!record) {
      await this.env.CATALOG.delete(catalogKey(name));
      return { name, defaultVersion: undefined, pinnedVersion: undefined, versions: [] };
    }
    await this.env.CATALOG.put(catalogKey(name), JSON.stringify(record));
    return record;
  }

  async #warmHosts(name: string, model: HostModel): Promise<void> {
    const hosts = this.#tables.hosts(name);
    const replies = await Promise.all(
      hosts.map((host) =>
        this.env.MODEL_HOST.getByName(host)
          .warm(model)
          .catch((error: unknown) => error),
      ),
    );
    const failed = replies.filter((reply) => reply instanceof Error || (typeof reply === "object" && reply !== null && "ok" in reply && !reply.ok));
    // A host that could not warm loads the session on its first request instead; it is not a
    // reason to refuse the version, which already proved loadable when it was uploaded.
    if (failed.length > 0) console.warn(`warming ${name}@${model.version}: ${failed.length} of ${hosts.length} hosts failed`);
  }

  async #dropFromHosts(name: string, version: string): Promise<void> {
    await Promise.all(
      this.#tables.hosts(name).map((host) =>
        this.env.MODEL_HOST.getByName(host)
          .drop(name, version)
          .catch(() => false),
      ),
    );
  }
}
