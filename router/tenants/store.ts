/**
 * @module Reads and writes of tenants and keys in KV. Lookups on the request path go through a
 * short per-isolate cache, so a warm isolate authenticates without any I/O; writes made through
 * this isolate invalidate it at once, other isolates see them within KEY_CACHE_MS (and KV's own
 * propagation, up to a minute, across locations).
 */
import { HttpError } from "../../protocol/errors.ts";
import { LookupCache, Lru } from "../../protocol/lru.ts";
import { hex, sha256Hex } from "../../protocol/sha256.ts";
import { storeRead } from "../kv-read.ts";
import { API_KEY_PREFIX, API_KEY_RANDOM_BYTES, isWellFormedKey, keyHashKey, keyIndexKey, tenantKey, type KeyRecord, type TenantRecord } from "./records.ts";

const KEY_CACHE_MS = 10_000;
/**
 * Key and tenant records this isolate has read, and the keys KV did not know: both bounded, and
 * apart, so a flood of well-formed but unknown keys costs one KV read each per KEY_CACHE_MS at
 * most, a bounded amount of memory, and never pushes out the keys real tenants are using.
 */
const cache = new LookupCache<unknown>({ ttlMs: KEY_CACHE_MS, foundCapacity: 10_000, missingCapacity: 10_000 });

/**
 * The SHA-256 of keys that found a key record, so a known key is hashed once per isolate, not on
 * every request (the digest and its hex were the router's largest cost after body parsing, by CPU
 * profile). Only found keys go in: a flood of unknown keys cannot push a real tenant's out. The
 * hash of a key never changes, so a revoked key needs no eviction here: its record's is enough.
 */
const knownKeyHashes = new Lru<string, string>(10_000);

/** How many records and misses the key cache holds now; for tests. */
export function keyCacheSizes(): { found: number; missing: number } {
  return cache.sizes;
}

async function cachedJson<T>(kv: KVNamespace, key: string): Promise<T | null> {
  const hit = cache.get(key);
  if (hit !== undefined) return hit as T | null;
  const value = await storeRead("the key store", () => kv.get<T>(key, "json"));
  cache.set(key, value);
  return value;
}

/** The key's tenant, or null; a key that is not of the form createKey makes costs no I/O at all. */
export async function tenantForKey(kv: KVNamespace, apiKey: string): Promise<TenantRecord | null> {
  if (!isWellFormedKey(apiKey)) return null;
  const hash = knownKeyHashes.get(apiKey) ?? (await sha256Hex(apiKey));
  const keyRecord = await cachedJson<KeyRecord>(kv, keyHashKey(hash));
  if (!keyRecord) return null;
  knownKeyHashes.set(apiKey, hash);
  return cachedJson<TenantRecord>(kv, tenantKey(keyRecord.tenantId));
}

export async function getTenant(kv: KVNamespace, id: string): Promise<TenantRecord | null> {
  return storeRead("the key store", () => kv.get<TenantRecord>(tenantKey(id), "json"));
}

export async function putTenant(kv: KVNamespace, tenant: TenantRecord): Promise<void> {
  await kv.put(tenantKey(tenant.id), JSON.stringify(tenant));
  cache.delete(tenantKey(tenant.id));
}

/** Creates a key for the tenant; the returned `key` is shown once and never stored. */
export async function createKey(kv: KVNamespace, tenantId: string): Promise<{ key: string; keyId: string }> {
  const key = `${API_KEY_PREFIX}${base64url(crypto.getRandomValues(new Uint8Array(API_KEY_RANDOM_BYTES)))}`;
  // Hex: a base64url id may start with '-', which a command line reads as an option (`keys revoke acme -NaB8...`).
  const keyId = hex(crypto.getRandomValues(new Uint8Array(9)).buffer);
  const hash = await sha256Hex(key);
  const record: KeyRecord = { keyId, tenantId, createdAt: Date.now() };
  await kv.put(keyHashKey(hash), JSON.stringify(record));
  await kv.put(keyIndexKey(tenantId, keyId), hash);
  return { key, keyId };
}

export async function revokeKey(kv: KVNamespace, tenantId: string, keyId: string): Promise<void> {
  const hash = await storeRead("the key store", () => kv.get(keyIndexKey(tenantId, keyId)));
  if (!hash) throw new HttpError(404, `tenant '${tenantId}' has no key '${keyId}'`);
  await kv.delete(keyHashKey(hash));
  await kv.delete(keyIndexKey(tenantId, keyId));
  cache.delete(keyHashKey(hash));
}

export async function listKeyIds(kv: KVNamespace, tenantId: string): Promise<string[]> {
  const prefix = keyIndexKey(tenantId, "");
  const listed = await storeRead("the key store", () => kv.list({ prefix }));
  return listed.keys.map((k) => k.name.slice(prefix.length));
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}
