/**
 * @module The router's view of the model catalog: KV reads (no round trip to the registry on
 * the hot path) behind a short per-isolate cache, falling back to the registry when KV has not
 * seen a new model yet. Admin writes through this isolate invalidate the cache at once.
 */
import { HttpError, notFound } from "../protocol/errors.ts";
import { REGISTRY_NAME } from "../durable-objects/model-registry/model-registry.ts";
import { LookupCache } from "../protocol/lru.ts";
import { storeRead } from "./kv-read.ts";
import { CATALOG_CACHE_MS, catalogKey, NAME_PATTERN, type ModelRecord, type ModelVersionRecord } from "../protocol/model-record.ts";

/**
 * Models by name, and names neither KV nor the registry knows: bounded, and apart, so made-up
 * names cost at most one KV read and one call to the (single) registry Durable Object per name
 * per CATALOG_CACHE_MS, a bounded amount of memory, and never push out the models in use.
 */
const cache = new LookupCache<ModelRecord>({ ttlMs: CATALOG_CACHE_MS, foundCapacity: 4_096, missingCapacity: 4_096 });

/** How many models and unknown names the catalog cache holds now; for tests. */
export function catalogCacheSizes(): { found: number; missing: number } {
  return cache.sizes;
}

export function registry(env: Env) {
  return env.MODEL_REGISTRY.getByName(REGISTRY_NAME);
}

/** Every model, from the registry itself (the admin views); 503 when it cannot answer. */
export function registryModels(env: Env): Promise<ModelRecord[]> {
  return storeRead("the model registry", () => registry(env).list());
}

/** One model from the registry itself, past KV and this isolate's cache; 503 when it cannot answer. */
export function registryModel(env: Env, name: string): Promise<ModelRecord | null> {
  return storeRead("the model registry", async () => (await registry(env).get(name)) ?? null);
}

export function invalidateCatalog(name: string): void {
  cache.delete(name);
}

/** The model, or null; a name no model can have (NAME_PATTERN) is null without any I/O or cache entry. */
export async function findModel(env: Env, name: string): Promise<ModelRecord | null> {
  if (!NAME_PATTERN.test(name)) return null;
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  let record = await storeRead("the model catalog", () => env.CATALOG.get<ModelRecord>(catalogKey(name), "json"));
  record ??= await registryModel(env, name);
  cache.set(name, record);
  return record;
}

/**
 * The version a request runs: the one named in the path, or the model's default.
 * Unloaded and still-warming versions are not served by default; named explicitly, a warming
 * version is (it has been validated), an unloaded one is not.
 */
export async function resolveVersion(env: Env, name: string, version: string | undefined): Promise<ModelVersionRecord> {
  const model = await findModel(env, name);
  if (!model || model.versions.length === 0) throw notFound(`unknown model '${name}'`);
  const wanted = version ?? model.defaultVersion;
  if (wanted === undefined) throw new HttpError(503, `model '${name}' has no ready version`, 5);
  const record = model.versions.find((v) => v.version === wanted);
  if (!record) throw notFound(`unknown version '${wanted}' of model '${name}'`);
  if (record.state === "unloaded") throw new HttpError(503, `version '${wanted}' of model '${name}' is unloaded`, 30);
  return record;
}
