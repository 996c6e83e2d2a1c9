/**
 * @module A bounded map that forgets its least recently used entry when full. Every per-isolate
 * cache keyed by something a caller chooses (an API key's hash, a model name, a tenant id) goes
 * through one of these, so a flood of distinct keys costs at most `capacity` entries of memory.
 * A JavaScript Map iterates in insertion order, so deleting and re-inserting on each use keeps
 * the least recently used entry first: no linked list needed, every operation is O(1).
 */
export class Lru<K, V> {
  readonly capacity: number;
  readonly #entries = new Map<K, V>();

  constructor(capacity: number) {
    // A NaN or zero capacity would either never evict or never keep anything: refuse it loudly.
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`an LRU needs a capacity of at least 1, not ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value, marked as just used; undefined when absent. */
  get(key: K): V | undefined {
    if (!this.#entries.has(key)) return undefined;
    const value = this.#entries.get(key) as V;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** Stores the value as the most recently used, evicting the least recently used ones over capacity. */
  set(key: K, value: V): this {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    return this;
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/**
 * Results of a lookup (KV, a registry) kept for `ttlMs`, found and not-found apart: each in its
 * own LRU, so a flood of lookups that find nothing (random keys, made-up names) is cached too,
 * and bounded, yet never evicts the entries real callers hit.
 */
export class LookupCache<V> {
  readonly ttlMs: number;
  readonly #found: Lru<string, { value: V; expires: number }>;
  readonly #missing: Lru<string, number>;

  constructor(options: { ttlMs: number; foundCapacity: number; missingCapacity: number }) {
    this.ttlMs = options.ttlMs;
    this.#found = new Lru(options.foundCapacity);
    this.#missing = new Lru(options.missingCapacity);
  }

  /** The cached value, null for a cached miss, undefined when nothing fresh is cached. */
  get(key: string, now = Date.now()): V | null | undefined {
    const hit = this.#found.get(key);
    if (hit) {
      if (hit.expires > now) return hit.value;
      this.#found.delete(key);
    }
    const missUntil = this.#missing.get(key);
    if (missUntil !== undefined) {
      if (missUntil > now) return null;
      this.#missing.delete(key);
    }
    return undefined;
  }

  set(key: string, value: V | null, now = Date.now()): void {
    this.delete(key);
    if (value === null) this.#missing.set(key, now + this.ttlMs);
    else this.#found.set(key, { value, expires: now + this.ttlMs });
  }

  delete(key: string): void {
    this.#found.delete(key);
    this.#missing.delete(key);
  }

  /** Entries held now (expired ones included until touched or evicted): for tests and metrics. */
  get sizes(): { found: number; missing: number } {
    return { found: this.#found.size, missing: this.#missing.size };
  }
}
