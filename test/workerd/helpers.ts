/**
 * @module Helpers for tests in workerd: call the real Worker, upload models through the admin
 * API, create tenants and keys, load prepared fixtures.
 */
import { env, exports } from "cloudflare:workers";

export const ADMIN = "test-admin-token";
const BASE = "http://hotpath.test";

export function call(path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set("authorization", `Bearer ${init.key}`);
  return exports.default.fetch(new Request(BASE + path, { ...init, headers }));
}

export async function fixtureBytes(path: string): Promise<Uint8Array> {
  const response = await env.FIXTURES.fetch(`http://fixtures/${path}`);
  if (!response.ok) throw new Error(await response.text());
  return new Uint8Array(await response.arrayBuffer());
}

export async function fixtureJson<T>(path: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await fixtureBytes(path))) as T;
}

export async function uploadModel(name: string, version: string, bytes: Uint8Array, query = ""): Promise<Response> {
  return call(`/admin/models/${name}/versions/${version}${query}`, {
    method: "PUT",
    key: ADMIN,
    body: bytes,
    headers: { "content-length": String(bytes.byteLength), "content-type": "application/octet-stream" },
  });
}

interface ManifestEntry {
  name: string;
  version: string;
  path: string;
  placement: string;
  maxBatch: number;
}

/** Uploads a prepared demo model as scripts/prepare-models.ts describes it, unless present. */
export async function ensureDemoModel(name: string): Promise<void> {
  const manifest = await fixtureJson<ManifestEntry[]>("models/manifest.json");
  const entry = manifest.find((m) => m.name === name);
  if (!entry) throw new Error(`no demo model ${name} in the manifest`);
  const existing = await call(`/admin/models/${name}`, { key: ADMIN });
  if (existing.ok) {
    const record = (await existing.json()) as { versions: { version: string }[] };
    if (record.versions.some((v) => v.version === entry.version)) return;
  }
  const bytes = await fixtureBytes(entry.path.replace(/^\.hotpath\//, ""));
  const response = await uploadModel(name, entry.version, bytes, `?placement=${entry.placement}&max_batch=${entry.maxBatch}`);
  if (response.status !== 201) throw new Error(`upload ${name}: ${response.status} ${await response.text()}`);
}

export async function createTenant(id: string, tier: string, models: string[] = ["*"]): Promise<string> {
  const put = await call(`/admin/tenants/${id}`, { method: "PUT", key: ADMIN, body: JSON.stringify({ tier, models }) });
  if (!put.ok) throw new Error(`tenant ${id}: ${put.status} ${await put.text()}`);
  const created = await call(`/admin/tenants/${id}/keys`, { method: "POST", key: ADMIN });
  return ((await created.json()) as { key: string }).key;
}

export function inferJson(model: string, key: string, body: unknown, version?: string): Promise<Response> {
  const path = version ? `/v2/models/${model}/versions/${version}/infer` : `/v2/models/${model}/infer`;
  return call(path, { method: "POST", key, body: JSON.stringify(body), headers: { "content-type": "application/json" } });
}
