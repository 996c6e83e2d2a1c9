/**
 * @module ModelRegistry: the one consistent writer of model metadata (a single instance,
 * "global"). It keeps versions in SQLite, warms the ModelHosts that serve a model before a new
 * default version takes traffic (hot swap), and publishes each model's record to KV, where the
 * router reads it without a round trip to this object.
 *
 * Every change (an upload, a delete, a pin, a load or unload) ends in one KV write of the
 * model's record (catalog-publisher.ts). When that write fails the change is undone here and the
 * caller gets a 503 to retry, so what the admin was told, the registry and (once the alarm has
 * written the record again, in case the failed write landed after all) KV agree. A deleted
 * version's bytes stay in R2 until no router can route to them any more (byte-removals.ts); the
 * alarm removes them.
 */
import { DurableObject } from "cloudflare:workers";
import { HttpError } from "../../protocol/errors.ts";
import { replyOf, type RpcReply } from "../../protocol/rpc-reply.ts";
import type { HostModel } from "../model-host/contract.ts";
import type { ModelRecord, ModelVersionRecord, VariantRecord, VersionState } from "../../protocol/model-record.ts";
import { ByteRemovals, type PendingRemoval } from "./byte-removals.ts";
import { CatalogPublisher, type PublicationInfo } from "./catalog-publisher.ts";
import { RegistryTables } from "./tables.ts";
import type { StagedVariant } from "./variant-table.ts";

/** A Durable Object id as `toString()` writes it; no host name has this form (names hold a ':'). */
const HOST_ID = /^[0-9a-f]{64}$/;

export const REGISTRY_NAME = "global";

/** A version an upload is adding, told apart from any other upload of the same name by its R2 object. */
export type AddedVersion = Pick<ModelVersionRecord, "name" | "version" | "r2Key">;

export interface RemovedVersion extends ModelVersionRecord {
  /** When the alarm deletes the version's bytes from R2 (epoch milliseconds). */
  bytesRemovedAt: number;
}

/** What the admin API shows besides the record: the model's KV publication and bytes awaiting removal. */
export interface ModelLifecycle {
  publication: PublicationInfo;
  pendingRemovals: PendingRemoval[];
}

export class ModelRegistry extends DurableObject<Env> {
  readonly #tables: RegistryTables;
  readonly #publisher: CatalogPublisher;
  readonly #removals: ByteRemovals;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#tables = new RegistryTables(ctx.storage.sql);
    // The binding is looked up at each write rather than kept, so it is always this object's own.
    this.#publisher = new CatalogPublisher(
      ctx.storage.sql,
      () => this.env.CATALOG,
      (name) => this.#tables.model(name),
    );
    this.#publisher.adopt(this.#tables.modelNames());
    this.#removals = new ByteRemovals(ctx.storage.sql);
  }

  get(name: string): ModelRecord | undefined {
    return this.#tables.model(name);
  }

  list(): ModelRecord[] {
    return this.#tables.modelNames().flatMap((name) => this.#tables.model(name) ?? []);
  }

  lifecycle(name: string): ModelLifecycle {
    return { publication: this.#publisher.info(name), pendingRemovals: this.#removals.list(name) };
  }

  /**
   * Adds a version the caller's ModelHost has loaded: it is warmed on every host already serving
   * the model, then made ready and published, once. Nothing is published before: a version
   * becomes visible to the routers only when it can serve, and a failure leaves no trace.
   */
  async register(version: Omit<ModelVersionRecord, "state" | "createdAt">): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      this.#insertWarming(version);
      try {
        await this.#warmHosts(version.name, version);
        return await this.#finishAdding(version);
      } catch (error) {
        this.#forgetAdded(version);
        throw error;
      }
    }, "registering the model");
  }

  /**
   * First half of adding a version that runs on the origin pool: the edge cannot load it (too
   * big for an isolate), so it is recorded as `warming` with no signature yet, which lets an
   * origin fetch it (the internal route reads the registry, not KV); `completeOriginVersion`
   * adds the signature the origin read, makes it ready and publishes it. Not published before.
   */
  async addPendingVersion(version: Omit<ModelVersionRecord, "state" | "createdAt">): Promise<RpcReply<ModelVersionRecord>> {
    return replyOf(() => {
      this.#insertWarming(version);
      return this.#requireVersion(version.name, version.version);
    }, "registering the model");
  }

  async completeOriginVersion(added: AddedVersion, signature: Pick<ModelVersionRecord, "inputs" | "outputs">): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      try {
        this.#requireOwnWarming(added);
        this.#tables.updateSignature(added.name, added.version, signature.inputs, signature.outputs);
        return await this.#finishAdding(added);
      } catch (error) {
        this.#forgetAdded(added);
        throw error;
      }
    }, "registering the model");
  }

  /**
   * An upload that failed after `addPendingVersion` forgets its version. That was never published
   * by the upload itself, but another change to the model may have published it since: then the
   * record without it is published (or left to the alarm if KV fails now).
   */
  async discardPendingVersion(added: AddedVersion): Promise<RpcReply<null>> {
    return replyOf(async () => {
      this.#forgetAdded(added);
      await this.#publish(added.name).catch((error: unknown) => console.error(`publishing ${added.name} after a failed upload`, error));
      return null;
    }, "discarding the version");
  }

  /**
   * Removes a version and returns its record. Removing the default, or the last ready version,
   * changes what unversioned requests get (another version, or nothing at all), so it takes
   * `force`: a plain delete of a stale version cannot do that. The hosts drop their sessions at
   * once; the bytes stay until the routers can no longer send anything to them.
   */
  async remove(name: string, version: string, force = false): Promise<RpcReply<RemovedVersion>> {
    return replyOf(async () => {
      const record = this.#requireVersion(name, version);
      if (!force) this.#refuseUnforcedRemoval(name, record);
      const wasPinned = this.#tables.pinned(name) === version;
      this.#tables.deleteVersion(name, version);
      if (wasPinned) this.#tables.setPinned(name, undefined);
      const bytesRemovedAt = this.#removals.schedule(record, Date.now());
      // The version's variants go with it, their bytes kept as long as its own.
      for (const v of record.variants ?? []) this.#removals.schedule({ ...record, r2Key: v.r2Key, sha256: v.sha256 }, Date.now());
      await this.#commit(name, () => {
        for (const key of [record.r2Key, ...(record.variants ?? []).map((v) => v.r2Key)]) this.#removals.unschedule(key);
        // Uploaded again while the write was in flight: the new upload stands.
        if (this.#tables.version(name, version)) return;
        this.#tables.insertVersion(record);
        if (wasPinned && this.#tables.pinned(name) === undefined) this.#tables.setPinned(name, version);
      });
      await this.#dropFromHosts(name, version);
      return { ...record, bytesRemovedAt };
    }, "removing the version");
  }

  /**
   * Adds a variant the upload has proven to run and measured against the version's default bytes
   * (`measuredAgainst`, their sha256): 409 when the variant exists or the version was replaced
   * meanwhile (the measure would be of other bytes). One publication, undone when it fails.
   */
  async addVariant(name: string, version: string, measuredAgainst: string, variant: VariantRecord): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      const record = this.#requireVersion(name, version);
      if (record.sha256 !== measuredAgainst) throw new HttpError(409, `version '${version}' of model '${name}' was replaced while the variant was measured`);
      if (record.variants?.some((v) => v.variant === variant.variant)) {
        throw new HttpError(409, `version '${version}' of model '${name}' already has variant '${variant.variant}'; delete it first`);
      }
      this.#tables.variants.insert(name, version, variant);
      this.#tables.variants.unstage(name, version, variant.variant, variant.r2Key);
      return this.#commit(name, () => {
        if (this.#variant(name, version, variant.variant)?.r2Key === variant.r2Key) this.#tables.variants.delete(name, version, variant.variant);
      });
    }, "registering the variant");
  }

  /**
   * First half of adding a variant the origins run: recorded (never published) so that an origin
   * asked to load it can fetch it through the internal route; addVariant or discardStagedVariant
   * ends it. 409 when the version has the variant or another upload is adding it.
   */
  async stageVariant(name: string, version: string, staged: StagedVariant): Promise<RpcReply<null>> {
    return replyOf(() => {
      this.#requireVersion(name, version);
      if (this.#variant(name, version, staged.variant) || this.#tables.variants.staged(name, version, staged.variant)) {
        throw new HttpError(409, `version '${version}' of model '${name}' already has variant '${staged.variant}', or it is being uploaded; delete it first`);
      }
      this.#tables.variants.stage(name, version, staged);
      return null;
    }, "registering the variant");
  }

  stagedVariant(name: string, version: string, variant: string): StagedVariant | undefined {
    return this.#tables.variants.staged(name, version, variant);
  }

  discardStagedVariant(name: string, version: string, variant: string, r2Key: string): void {
    this.#tables.variants.unstage(name, version, variant, r2Key);
  }

  /** Removes a variant: published without it at once, its bytes kept until no router can route to them (as a version's). */
  async removeVariant(name: string, version: string, variantName: string): Promise<RpcReply<VariantRecord & { bytesRemovedAt: number }>> {
    return replyOf(async () => {
      const record = this.#requireVersion(name, version);
      const variant = this.#variant(name, version, variantName);
      if (!variant) throw new HttpError(404, `unknown variant '${variantName}' of version '${version}' of model '${name}'`);
      this.#tables.variants.delete(name, version, variantName);
      const bytesRemovedAt = this.#removals.schedule({ name, version, r2Key: variant.r2Key, sha256: variant.sha256 }, Date.now());
      await this.#commit(name, () => {
        this.#removals.unschedule(variant.r2Key);
        if (this.#tables.version(name, version) && !this.#variant(name, version, variantName)) this.#tables.variants.insert(name, version, variant);
      });
      // Sessions are keyed by sha256: identical bytes are the default's own session, which stays.
      if (variant.sha256 !== record.sha256) await this.#dropFromHosts(name, version, variant.sha256);
      return { ...variant, bytesRemovedAt };
    }, "removing the variant");
  }

  #variant(name: string, version: string, variant: string): VariantRecord | undefined {
    return this.#tables.variants.of(name, version).find((v) => v.variant === variant);
  }

  /** Pins the default version (undefined: back to the highest ready one), warming it first. */
  async pin(name: string, version: string | undefined): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      if (version !== undefined) {
        await this.#warmHosts(name, this.#requireVersion(name, version));
        this.#requireVersion(name, version); // not deleted while the hosts warmed it
      }
      const before = this.#tables.pinned(name);
      this.#tables.setPinned(name, version);
      return this.#commit(name, () => {
        if (this.#tables.pinned(name) === version) this.#tables.setPinned(name, before);
      });
    }, "pinning the default");
  }

  /**
   * OIP model_repository load/unload: an unloaded version is kept but not served. Only settled
   * versions move: a `warming` version belongs to the upload adding it, which makes it ready
   * (with the signature a host or an origin read) or removes it, so load must not make it ready
   * before it can serve, and unload must not race with it.
   */
  async setState(name: string, version: string | undefined, state: "ready" | "unloaded"): Promise<RpcReply<ModelRecord>> {
    return replyOf(async () => {
      const targets = version ? [this.#requireVersion(name, version)] : (this.#tables.model(name)?.versions ?? []);
      if (targets.length === 0) throw new HttpError(404, `unknown model '${name}'`);
      const from: VersionState = state === "ready" ? "unloaded" : "ready";
      const moving = targets.filter((target) => target.state === from);
      if (state === "ready") for (const target of moving) await this.#warmHosts(name, target);
      // Re-read: the versions may have changed while the hosts warmed.
      const moved = moving.filter((target) => this.#tables.version(name, target.version)?.state === from);
      for (const target of moved) this.#tables.updateState(name, target.version, state);
      const record = await this.#commit(name, () => {
        for (const target of moved) if (this.#tables.version(name, target.version)?.state === state) this.#tables.updateState(name, target.version, from);
      });
      if (state === "unloaded") for (const target of moved) await this.#dropFromHosts(name, target.version);
      return record;
    }, "changing the model's state");
  }

  /** Called by a ModelHost when it first serves a model, so swaps know whom to warm. */
  recordHost(model: string, host: string): void {
    this.#tables.addHost(model, host);
  }

  /** Writes stale catalog records again and removes the bytes of deleted versions that are due. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    for (const { name, writableAt } of this.#publisher.stale()) {
      if (writableAt > now) continue;
      await this.#publisher.publish(name).catch((error: unknown) => console.error(`publishing ${name} again`, error));
    }
    for (const removal of this.#removals.due(now)) await this.#removeBytes(removal, now);
    await this.#armAlarm();
  }

  async #removeBytes(removal: PendingRemoval, now: number): Promise<void> {
    // A request routed while the bytes were kept may have loaded them again on a host: those
    // sessions go, not those of bytes uploaded since under the same version.
    await this.#dropFromHosts(removal.name, removal.version, removal.sha256);
    try {
      await this.env.MODELS.delete(removal.r2Key);
      this.#removals.unschedule(removal.r2Key);
    } catch (error) {
      console.error(`removing ${removal.r2Key} from R2`, error);
      this.#removals.postpone(removal.r2Key, now);
    }
  }

  /**
   * Publishes the model after a change; if KV refuses, `undo` puts the registry back as it was
   * and the caller is told to try again. The model stays stale until the alarm has written the
   * record again, since a write that failed may still have landed.
   */
  async #commit(name: string, undo: () => void): Promise<ModelRecord> {
    try {
      await this.#publish(name);
    } catch (error) {
      undo();
      console.error(`publishing ${name} to the catalog failed; the change was undone`, error);
      throw new HttpError(503, `the model catalog could not be updated for '${name}'; nothing was changed, try again`, 5);
    }
    return this.#tables.model(name) ?? { name, defaultVersion: undefined, pinnedVersion: undefined, versions: [] };
  }

  async #publish(name: string): Promise<void> {
    try {
      await this.#publisher.publish(name);
    } finally {
      await this.#armAlarm();
    }
  }

  /** The alarm is set for the earliest stale record's retry or removal due, if any. */
  async #armAlarm(): Promise<void> {
    const times = [...this.#publisher.stale().map((s) => s.writableAt), this.#removals.nextDueAt() ?? Infinity];
    const next = Math.min(...times);
    if (next === Infinity) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(next);
  }

  /** The added version (still warming) becomes ready; one publication, undone by forgetting it. */
  async #finishAdding(added: AddedVersion): Promise<ModelRecord> {
    this.#requireOwnWarming(added);
    this.#tables.updateState(added.name, added.version, "ready");
    return this.#commit(added.name, () => this.#forgetAdded(added));
  }

  /** 409 when the version was deleted (or replaced) while it was being added. */
  #requireOwnWarming(added: AddedVersion): void {
    const record = this.#tables.version(added.name, added.version);
    if (record?.r2Key !== added.r2Key || record.state !== "warming") {
      throw new HttpError(409, `version '${added.version}' of model '${added.name}' was deleted while it was being added`);
    }
  }

  /** Removes the version this upload added, never one another upload put under the same name since. */
  #forgetAdded(added: AddedVersion): void {
    if (this.#tables.version(added.name, added.version)?.r2Key !== added.r2Key) return;
    this.#tables.deleteVersion(added.name, added.version);
    if (this.#tables.pinned(added.name) === added.version) this.#tables.setPinned(added.name, undefined);
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

  #requireVersion(name: string, version: string): ModelVersionRecord {
    const record = this.#tables.version(name, version);
    if (!record) throw new HttpError(404, `unknown version '${version}' of model '${name}'`);
    return record;
  }

  /** `call` on a host recorded by its id (hex), or by the name older hosts recorded; a row no id can be made of fails only its own call. */
  async #onHost(recorded: string, call: (host: ReturnType<Env["MODEL_HOST"]["getByName"]>) => Promise<unknown>): Promise<unknown> {
    const namespace = this.env.MODEL_HOST;
    return call(HOST_ID.test(recorded) ? namespace.get(namespace.idFromString(recorded)) : namespace.getByName(recorded));
  }

  async #warmHosts(name: string, model: HostModel): Promise<void> {
    const hosts = this.#tables.hosts(name);
    const replies = await Promise.all(hosts.map((host) => this.#onHost(host, (stub) => stub.warm(model)).catch((error: unknown) => error)));
    const failed = replies.filter((reply) => reply instanceof Error || (typeof reply === "object" && reply !== null && "ok" in reply && !reply.ok));
    // A host that could not warm loads the session on its first request instead; it is not a
    // reason to refuse the version, which already proved loadable when it was uploaded.
    if (failed.length > 0) console.warn(`warming ${name}@${model.version}: ${failed.length} of ${hosts.length} hosts failed`);
  }

  async #dropFromHosts(name: string, version: string, sha256?: string): Promise<void> {
    await Promise.all(this.#tables.hosts(name).map((host) => this.#onHost(host, (stub) => stub.drop(name, version, sha256)).catch(() => false)));
  }
}
