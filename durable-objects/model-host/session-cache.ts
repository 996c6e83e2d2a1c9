/**
 * @module Warm model sessions of one ModelHost, keyed by model@version#sha256 (the caller's key).
 * A session is created once even when many calls arrive before it is ready (they share one
 * promise); a failed load is forgotten so the next call retries.
 *
 * Memory: the ORT wasm heap never shrinks and the isolate has 128 MB in all, so each session
 * counts what it holds there (warmSessionBytes: about twice the model file), from the moment its
 * load is admitted, not once it is done. Before a load starts, idle sessions are released, least
 * recently used first, until the new one fits the budget; when it cannot fit (the rest are in use
 * or loading, or the model alone is over the budget) the load is refused with 503 and never
 * started. A session released while it still runs counts until its runs end.
 */
import { HttpError } from "../../protocol/errors.ts";
import type { ModelSession } from "../../protocol/model-session.ts";
import { warmSessionBytes } from "../../protocol/session-memory.ts";
import { InFlight } from "../../scheduler/in-flight.ts";

/** Retry-After when sessions in use leave no room: their runs and loads end within seconds. */
const NO_ROOM_RETRY_AFTER_S = 5;
/** Retry-After for a model over the whole budget: no wait helps here, but an `auto` model spills to the pool on 503. */
const TOO_LARGE_RETRY_AFTER_S = 60;

export interface CachedSessionInfo {
  key: string;
  /** The model file's size. */
  fileBytes: number;
  /** What the session is counted as holding in the isolate. */
  memoryBytes: number;
  inFlight: number;
  lastUsed: number;
  ready: boolean;
}

interface Entry {
  key: string;
  fileBytes: number;
  memoryBytes: number;
  session: Promise<ModelSession>;
  /** The session once its load is done. */
  loaded: ModelSession | undefined;
  requests: InFlight;
  lastUsed: number;
}

export class SessionCache {
  readonly #entries = new Map<string, Entry>();
  readonly #budgetBytes: number;
  readonly #now: () => number;
  /** Sessions taken out of the cache while they still ran or loaded: held until they are released. */
  #releasingBytes = 0;

  constructor(budgetBytes: number, now: () => number = Date.now) {
    this.#budgetBytes = budgetBytes;
    this.#now = now;
  }

  /**
   * Runs `use` with the session for `key`, loading it with `load` first if needed (after `admit`,
   * which may refuse).
   * @example await cache.with("mlp@1", 4096, () => loadFromR2(), (s) => s.run(inputs, names))
   */
  async with<T>(key: string, fileBytes: number, load: () => Promise<ModelSession>, use: (session: ModelSession) => Promise<T>): Promise<T> {
    const entry = this.#entries.get(key) ?? this.#startLoad(key, fileBytes, load);
    entry.lastUsed = this.#now();
    try {
      return await entry.requests.track(async () => use(await entry.session));
    } finally {
      entry.lastUsed = this.#now();
    }
  }

  /**
   * Makes room for a session of a model file of `fileBytes` under `key`, unless one is held:
   * releases idle sessions, least recently used first, until it fits. Throws a 503 with
   * Retry-After, releasing nothing, when it cannot fit.
   */
  admit(key: string, fileBytes: number): void {
    if (this.#entries.has(key)) return;
    const needed = warmSessionBytes(fileBytes);
    if (needed > this.#budgetBytes) {
      throw new HttpError(
        503,
        `the model needs about ${toMB(needed)} MB warm, more than a model host's ${toMB(this.#budgetBytes)} MB`,
        TOO_LARGE_RETRY_AFTER_S,
      );
    }
    const idle = [...this.#entries.values()].filter(isIdle).sort((a, b) => a.lastUsed - b.lastUsed);
    const idleBytes = idle.reduce((sum, entry) => sum + entry.memoryBytes, 0);
    const over = this.heldBytes() + needed - this.#budgetBytes;
    if (over > idleBytes) {
      const busy = this.heldBytes() - idleBytes;
      throw new HttpError(
        503,
        `no room to load the model on this host now: sessions in use hold ${toMB(busy)} of its ${toMB(this.#budgetBytes)} MB`,
        NO_ROOM_RETRY_AFTER_S,
      );
    }
    let freed = 0;
    for (const entry of idle) {
      if (freed >= over) return;
      freed += entry.memoryBytes;
      this.#remove(entry);
    }
  }

  has(key: string): boolean {
    return this.#entries.get(key)?.loaded !== undefined;
  }

  /** Releases the session for `key` once nothing runs on it; returns whether one was held. */
  async drop(key: string): Promise<boolean> {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    await this.#remove(entry);
    return true;
  }

  /** Releases the ready sessions nothing has used since `cutoff` (epoch ms); returns their keys. */
  releaseUnusedSince(cutoff: number): string[] {
    const stale = [...this.#entries.values()].filter((entry) => isIdle(entry) && entry.lastUsed <= cutoff);
    for (const entry of stale) void this.#remove(entry);
    return stale.map((entry) => entry.key);
  }

  /** When the first session held now will have gone unused for `idleMs` if nothing uses it; undefined when none is held. */
  nextIdleAt(idleMs: number): number | undefined {
    let next: number | undefined;
    // One in use or loading is used until at least now.
    for (const entry of this.#entries.values()) next = Math.min(next ?? Infinity, (isIdle(entry) ? entry.lastUsed : this.#now()) + idleMs);
    return next;
  }

  info(): CachedSessionInfo[] {
    return [...this.#entries.values()].map(({ key, fileBytes, memoryBytes, requests, lastUsed, loaded }) => ({
      key,
      fileBytes,
      memoryBytes,
      inFlight: requests.count,
      lastUsed,
      ready: loaded !== undefined,
    }));
  }

  /** What the sessions held (and those still being released) take, by warmSessionBytes. */
  heldBytes(): number {
    let total = this.#releasingBytes;
    for (const entry of this.#entries.values()) total += entry.memoryBytes;
    return total;
  }

  #startLoad(key: string, fileBytes: number, load: () => Promise<ModelSession>): Entry {
    this.admit(key, fileBytes);
    const entry: Entry = {
      key,
      fileBytes,
      memoryBytes: warmSessionBytes(fileBytes),
      session: load(),
      loaded: undefined,
      requests: new InFlight(),
      lastUsed: this.#now(),
    };
    this.#entries.set(key, entry);
    entry.session.then(
      (session) => (entry.loaded = session),
      () => {
        // Forget a failed load, unless a newer attempt already replaced it.
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return entry;
  }

  /** Takes `entry` out of the cache and releases its session, at once when idle, else once nothing runs on it. */
  async #remove(entry: Entry): Promise<void> {
    this.#entries.delete(entry.key);
    // Released now, not a turn later: the room is for a load that starts as admit() returns.
    if (isIdle(entry)) return releaseQuietly(entry.loaded);
    this.#releasingBytes += entry.memoryBytes;
    try {
      const session = await entry.session.catch(() => undefined);
      await entry.requests.idle();
      await releaseQuietly(session);
    } finally {
      this.#releasingBytes -= entry.memoryBytes;
    }
  }
}

/** Loaded and running nothing: a session that can be released at once. */
const isIdle = (entry: Entry): entry is Entry & { loaded: ModelSession } => entry.loaded !== undefined && entry.requests.count === 0;

/** A session whose release fails is gone from the cache all the same: logged, never thrown at a caller that only made room. */
async function releaseQuietly(session: ModelSession | undefined): Promise<void> {
  try {
    await session?.release();
  } catch (error) {
    console.error("releasing a model session failed", error);
  }
}

const toMB = (bytes: number): string => (bytes / (1024 * 1024)).toFixed(1);
