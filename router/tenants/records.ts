/**
 * @module Tenants and their API keys as stored in the KEYS namespace. Keys themselves are never
 * stored: only their SHA-256, which is also the lookup key, so a read of KV cannot reveal a key.
 */
import type { Tier } from "../../config/tiers.ts";

export interface TenantRecord {
  id: string;
  tier: Tier;
  /** Model names this tenant may call; "*" allows every model, including later uploads. */
  models: string[];
  createdAt: number;
}

export interface KeyRecord {
  keyId: string;
  tenantId: string;
  createdAt: number;
}

/**
 * What createKey hands out: "hp_" and 32 random bytes in unpadded base64url (43 characters).
 * Anything else cannot be a key, so it is refused before it costs a hash, a KV read or a cache entry.
 */
export const API_KEY_PREFIX = "hp_";
export const API_KEY_RANDOM_BYTES = 32;
const API_KEY_PATTERN = new RegExp(`^${API_KEY_PREFIX}[A-Za-z0-9_-]{${Math.ceil((API_KEY_RANDOM_BYTES * 8) / 6)}}$`);

export function isWellFormedKey(key: string): boolean {
  return API_KEY_PATTERN.test(key);
}

export const tenantKey = (id: string): string => `tenant:${id}`;
export const keyHashKey = (sha256: string): string => `key:${sha256}`;
/** Index from a tenant's key id to the key's hash, so a key can be revoked by its id. */
export const keyIndexKey = (tenantId: string, keyId: string): string => `keyid:${tenantId}:${keyId}`;

export function mayUseModel(tenant: TenantRecord, model: string): boolean {
  return tenant.models.includes("*") || tenant.models.includes(model);
}
