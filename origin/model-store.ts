/**
 * @module The model versions this origin serves (a version's variant under its served version,
 * `<version>~<variant>`, as the edge names it) and the state of each: loading (fetching,
 * creating, warming), ready, or failed (with why). A version is ready only after a warm run, so
 * `/v2/health/ready` never sends the edge traffic that would pay a cold start. Models assigned at
 * start are retried with capped backoff until they load (the edge may come up after the origin);
 * the repository route's load is one attempt, answered with its outcome.
 */
import { compareVersions, NAME_PATTERN, splitServedVersion, type ModelRef, type ModelVersionRecord } from "../protocol/model-record.ts";
import type { ScheduledModel } from "../scheduler/contract.ts";
import { allIdleWithin, InFlight } from "../scheduler/in-flight.ts";
import { HttpError, notFound } from "../protocol/errors.ts";
import type { ModelSession } from "../protocol/model-session.ts";
import type { Tensor } from "../protocol/oip/tensor.ts";
import type { LoadedModel, ModelLoader } from "./model-loader.ts";

export type ModelState = "loading" | "ready" | "failed";

export interface ModelEntry {
  readonly name: string;
  readonly version: string;
  state: ModelState;
  record: ModelVersionRecord | undefined;
  session: ModelSession | undefined;
  /** What the scheduler runs; one object per version, as the scheduler compares models by identity. */
  host: ScheduledModel | undefined;
  source: LoadedModel["source"] | undefined;
  /** Fetch (or cache read), session creation and warm-up, milliseconds. */
  loadMs: number | undefined;
  error: string | undefined;
  /** Requests of this version queued or running now. */
  readonly requests: InFlight;
  attempt: Promise<ModelEntry> | undefined;
}

export interface ModelStoreOptions {
  loader: Pick<ModelLoader, "load">;
  /** Off: every scheduled model has max batch 1, so the scheduler never merges requests. */
  batching: boolean;
  /** Runs the warm-up of a just-created session (see origin.ts: through the scheduler). */
  warm: (entry: ModelEntry) => Promise<void>;
  log: (line: string) => void;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** An unloaded version's session is released once its requests finish, or after this long whatever they do. */
const UNLOAD_WAIT_MS = 30_000;

export class ModelStore {
  readonly #entries = new Map<string, ModelEntry>();
  readonly #options: ModelStoreOptions;
  /** Versions given at start: kept (and retried) even while they fail. */
  readonly #assigned = new Set<string>();
  #closed = false;

  constructor(options: ModelStoreOptions) {
    this.#options = options;
  }

  /** Loads (or joins the load of) one version; rejects with an HttpError saying why it is not servable. */
  ensure(name: string, version: string): Promise<ModelEntry> {
    if (!NAME_PATTERN.test(name) || !splitServedVersion(version)) {
      return Promise.reject(
        new HttpError(400, `model names and versions are letters, digits, '.', '_' and '-' (a variant's: <version>~<variant>), got '${name}@${version}'`),
      );
    }
    const key = keyOf(name, version);
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = {
        name,
        version,
        state: "loading",
        record: undefined,
        session: undefined,
        host: undefined,
        source: undefined,
        loadMs: undefined,
        error: undefined,
        requests: new InFlight(),
        attempt: undefined,
      };
      this.#entries.set(key, entry);
    }
    if (entry.state === "ready") return Promise.resolve(entry);
    entry.attempt ??= this.#attempt(entry).finally(() => {
      entry.attempt = undefined;
    });
    return entry.attempt;
  }

  /** Keeps loading each model until it is ready, unloaded, or the store closes. */
  assign(models: readonly ModelRef[]): void {
    for (const { name, version } of models) {
      this.#assigned.add(keyOf(name, version));
      void this.#keepLoading(name, version);
    }
  }

  /**
   * One attempt for the repository route. A version that fails here and was not assigned at start
   * is forgotten, so one bad load request does not leave the whole origin unready. An attempt
   * already under way (a start-up retry of an assigned version) may have asked the edge before the
   * version existed there: the edge calls this route once it has added the version, so that
   * attempt's 404 is not this call's answer, and a fresh attempt is (not after an unload meanwhile,
   * nor for any other failure, which a second attempt would only repeat).
   */
  async load(name: string, version: string): Promise<ModelEntry> {
    const key = keyOf(name, version);
    const joinsEarlierAttempt = this.#entries.get(key)?.attempt !== undefined;
    try {
      return await this.ensure(name, version).catch((error: unknown) => {
        if (!joinsEarlierAttempt || !this.#entries.has(key) || HttpError.from(error).status !== 404) throw error;
        return this.ensure(name, version);
      });
    } catch (error) {
      const entry = this.#entries.get(key);
      if (entry?.state === "failed" && !this.#assigned.has(key)) this.#entries.delete(key);
      throw error;
    }
  }

  /** A ready version: the one named, or the highest ready one. 404 unknown, 503 not ready yet. */
  servable(name: string, version: string | undefined): ModelEntry {
    const entry = this.find(name, version, (e) => e.state === "ready");
    if (entry.state === "ready") return entry;
    // Not the reason: the edge passes this message on to the tenant, and the reason (onnxruntime's
    // message, a path, the edge's answer) is for operators, who have the log and the token-only
    // ready body.
    if (entry.state === "failed") throw new HttpError(503, `${name}@${entry.version} failed to load on this origin`, 5);
    throw new HttpError(503, `${name}@${entry.version} is still loading on this origin`, 2);
  }

  /**
   * The version named, or the highest one `prefer` accepts (else the highest); 404 when none is
   * assigned. A variant (`<version>~<variant>`) is served only when named: it is never a model's default.
   */
  find(name: string, version: string | undefined, prefer: (entry: ModelEntry) => boolean = () => true): ModelEntry {
    if (version !== undefined) {
      const entry = this.#entries.get(keyOf(name, version));
      if (!entry) throw notFound(`this origin does not serve ${name}@${version}`);
      return entry;
    }
    const versions = this.entries()
      .filter((e) => e.name === name && splitServedVersion(e.version)?.variant === undefined)
      .sort((a, b) => compareVersions(b.version, a.version));
    const entry = versions.find(prefer) ?? versions[0];
    if (!entry) throw notFound(`this origin does not serve model '${name}'`);
    return entry;
  }

  entries(): ModelEntry[] {
    return [...this.#entries.values()];
  }

  allReady(): boolean {
    return this.entries().every((e) => e.state === "ready");
  }

  /** Stops serving a version; its session is released once nothing of it runs. */
  async unload(name: string, version: string): Promise<boolean> {
    const entry = this.#entries.get(keyOf(name, version));
    if (!entry) return false;
    this.#entries.delete(keyOf(name, version));
    this.#assigned.delete(keyOf(name, version));
    await entry.attempt?.catch(() => undefined);
    await allIdleWithin([entry.requests], UNLOAD_WAIT_MS);
    await entry.session?.release();
    return true;
  }

  /** Counts a request against its version while it is queued or running (health reports it). */
  track<T>(entry: ModelEntry, work: Promise<T>): Promise<T> {
    return entry.requests.track(() => work);
  }

  /** The scheduler's RunModel: one run of merged inputs on the version's session. */
  async run(model: ScheduledModel, inputs: Tensor[], outputNames: string[]): Promise<{ outputs: Tensor[]; loadMs: number; inferMs: number }> {
    const session = this.#entries.get(keyOf(model.name, model.version))?.session;
    if (!session) throw new HttpError(503, `${model.name}@${model.version} was unloaded from this origin`, 5);
    const startedAt = performance.now();
    const outputs = await session.run(inputs, outputNames);
    return { outputs, loadMs: 0, inferMs: performance.now() - startedAt };
  }

  close(): void {
    this.#closed = true;
  }

  async #attempt(entry: ModelEntry): Promise<ModelEntry> {
    const startedAt = performance.now();
    entry.state = "loading";
    try {
      const loaded = await this.#options.loader.load(entry.name, entry.version);
      if (this.#entries.get(keyOf(entry.name, entry.version)) !== entry) {
        await loaded.session.release(); // unloaded while it loaded
        throw new HttpError(503, `${entry.name}@${entry.version} was unloaded while it loaded`, 5);
      }
      const { record, session } = loaded;
      entry.record = record;
      entry.session = session;
      entry.source = loaded.source;
      const maxBatch = this.#options.batching && session.batchAxes ? record.maxBatch : 1;
      entry.host = {
        name: record.name,
        version: record.version,
        r2Key: record.r2Key,
        sha256: record.sha256,
        bytes: record.bytes,
        maxBatch,
        maxQueueDelayMs: record.maxQueueDelayMs,
        batchAxes: session.batchAxes,
      };
      await this.#options.warm(entry);
      entry.loadMs = performance.now() - startedAt;
      entry.state = "ready";
      entry.error = undefined;
      this.#options.log(
        `${entry.name}@${entry.version} ready in ${entry.loadMs.toFixed(0)} ms (bytes from ${loaded.source}; fetch ${loaded.fetchMs.toFixed(0)} ms, session ${loaded.createMs.toFixed(0)} ms)`,
      );
      return entry;
    } catch (error) {
      entry.state = "failed";
      entry.error = error instanceof Error ? error.message : String(error);
      throw asHttpError(error, `${entry.name}@${entry.version}`);
    }
  }

  async #keepLoading(name: string, version: string): Promise<void> {
    let delay = RETRY_MIN_MS;
    let lastError = "";
    while (!this.#closed) {
      try {
        await this.ensure(name, version);
        return;
      } catch (error) {
        const entry = this.#entries.get(keyOf(name, version));
        if (!entry || this.#closed) return; // unloaded meanwhile
        const message = error instanceof Error ? error.message : String(error);
        // One line per new reason, not one per retry, so a long edge outage does not flood the log.
        if (message !== lastError) this.#options.log(`loading ${name}@${version} failed: ${message}; retrying every ${RETRY_MAX_MS / 1000} s at most`);
        lastError = message;
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
        delay = Math.min(RETRY_MAX_MS, delay * 2);
      }
    }
  }
}

/**
 * Why a version is not servable, as the status the repository route answers with: 404 when the
 * edge does not know it, 422 when its bytes are not a model (onnxruntime refused them: the
 * uploader's mistake, which the edge passes back as 400), 503 with Retry-After for the rest
 * (the edge unreachable or refusing, the worker busy or gone), which may pass.
 */
function asHttpError(error: unknown, what: string): HttpError {
  const cause = HttpError.from(error);
  if (cause.status === 404 || cause.status === 422 || cause.status === 503) return cause;
  if (cause.status === 400) return new HttpError(422, `${what} could not be loaded: ${cause.message}`);
  return new HttpError(503, `${what} could not be loaded: ${cause.message}`, 5);
}

const keyOf = (name: string, version: string): string => `${name}@${version}`;
