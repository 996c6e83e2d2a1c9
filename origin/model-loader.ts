/**
 * @module One attempt at making a model version runnable on this origin: its record from the edge,
 * its bytes from the disk cache when their sha256 still matches (else from the edge, verified,
 * then cached), then a session on the inference worker. Warming is the store's job.
 */
import type { ModelVersionRecord } from "../protocol/model-record.ts";
import type { ModelSession } from "../protocol/model-session.ts";
import type { ExecutionProvider } from "./config.ts";
import { HttpError } from "../protocol/errors.ts";
import type { EdgeClient } from "./edge-client.ts";
import type { InferenceWorker } from "./inference-worker-client.ts";
import type { ModelCache } from "./model-cache.ts";

export interface LoadedModel {
  record: ModelVersionRecord;
  session: ModelSession;
  /** Where the bytes came from this time. */
  source: "cache" | "edge";
  fetchMs: number;
  createMs: number;
}

export interface ModelLoaderOptions {
  cache: ModelCache;
  edge: EdgeClient;
  worker: InferenceWorker;
  ep: ExecutionProvider;
  threads: number;
  log: (line: string) => void;
}

export class ModelLoader {
  readonly #options: ModelLoaderOptions;

  constructor(options: ModelLoaderOptions) {
    this.#options = options;
  }

  /** @example const { session, source } = await loader.load("mlp-heavy", "1"); */
  async load(name: string, version: string): Promise<LoadedModel> {
    const { cache, edge, worker, ep, threads, log } = this.#options;
    const fetchStarted = performance.now();
    const record = await this.#record(name, version);
    let source: LoadedModel["source"] = "cache";
    let bytes: Uint8Array | undefined;
    const cached = await cache.read(record);
    if (cached.kind === "hit") bytes = cached.bytes;
    if (cached.kind === "tampered") {
      log(`refusing the cached ${cached.path}: its sha256 is ${cached.actualSha256}, the record says ${record.sha256}; removed, fetching it again`);
    }
    if (!bytes) {
      bytes = await edge.bytes(record);
      const path = await cache.write(record, bytes);
      source = "edge";
      log(
        `fetched ${name}@${version} (${(bytes.byteLength / 1e6).toFixed(1)} MB, sha256 ${record.sha256.slice(0, 12)}) in ${ms(fetchStarted)} ms; cached at ${path}`,
      );
    }
    const fetchMs = performance.now() - fetchStarted;
    const createStarted = performance.now();
    // The verified bytes move to the worker: what runs is exactly what was checked.
    const session = await worker.createSession(bytes, ep, threads);
    const createMs = performance.now() - createStarted;
    warnIfSignatureDiffers(record, session, log);
    return { record, session, source, fetchMs, createMs };
  }

  /**
   * The edge's record; the cached one when the edge cannot answer (down, 5xx, garbage: 502), so a
   * restart still serves. The edge's refusals (unknown version, a token it does not take) are final.
   */
  async #record(name: string, version: string): Promise<ModelVersionRecord> {
    try {
      return await this.#options.edge.record(name, version);
    } catch (error) {
      if (!(error instanceof HttpError) || error.status < 500) throw error;
      const cached = await this.#options.cache.readRecord(name, version);
      if (!cached) throw error;
      this.#options.log(`${error.message}; using the cached record of ${name}@${version} (sha256 ${cached.sha256.slice(0, 12)})`);
      return cached;
    }
  }
}

/** The session (the model itself) is what requests are checked against; a differing record is only reported. */
function warnIfSignatureDiffers(record: ModelVersionRecord, session: ModelSession, log: (line: string) => void): void {
  const text = (specs: unknown) => JSON.stringify(specs);
  if (text(record.inputs) !== text(session.inputs) || text(record.outputs) !== text(session.outputs)) {
    log(
      `note: ${record.name}@${record.version}'s record declares inputs ${text(record.inputs)} outputs ${text(record.outputs)}; the model has ${text(session.inputs)} ${text(session.outputs)}, which are used`,
    );
  }
}

const ms = (since: number): string => (performance.now() - since).toFixed(0);
