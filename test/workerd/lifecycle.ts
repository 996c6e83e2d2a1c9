/**
 * @module Helpers for the tests of a model's lifecycle (upload, delete, load): the real
 * ModelRegistry's view (its KV publications, the bytes it will remove), the R2 objects under a
 * model, and the registry's alarm run now, as if a deleted version's time had come.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { KV_WRITE_SPACING_MS } from "../../durable-objects/model-registry/catalog-publisher.ts";
import { REGISTRY_NAME, type ModelLifecycle } from "../../durable-objects/model-registry/model-registry.ts";
import type { ModelRecord } from "../../protocol/model-record.ts";
import { ADMIN, call, fixtureBytes, uploadModel } from "./helpers.ts";
import { freshName } from "./refusals.ts";

export interface HostState {
  host: string;
  sessions: { model: string; version: string }[];
  load: { queued: number };
}
export type AdminModel = ModelRecord & ModelLifecycle & { hosts: HostState[] };

export const registryStub = () => env.MODEL_REGISTRY.getByName(REGISTRY_NAME);

export async function lifecycleOf(name: string): Promise<ModelLifecycle> {
  return registryStub().lifecycle(name);
}

/** KV writes the registry has made for the model so far. */
export async function catalogWrites(name: string): Promise<number> {
  return (await lifecycleOf(name)).publication.writes;
}

/** Waits until the registry may write the model's KV key again (one write a second), so the next admin call does not wait. */
export async function catalogWriteSlotFree(name: string): Promise<void> {
  const { lastWriteAt } = (await lifecycleOf(name)).publication;
  const wait = (lastWriteAt ?? 0) + KV_WRITE_SPACING_MS - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Keys of the R2 objects stored under the model. */
export async function storedObjects(name: string): Promise<string[]> {
  return (await env.MODELS.list({ prefix: `models/${name}/` })).objects.map((o) => o.key);
}

/** A model with versions 1 and 2 (2 is the default); `query` applies to version 2. */
export async function twoVersions(prefix: string, query = "?max_batch=16"): Promise<string> {
  const name = freshName(prefix);
  for (const [version, path, q] of [
    ["1", "models/mlp-tiny/1/model.onnx", "?max_batch=16"],
    ["2", "fixtures/mlp-tiny-v2.onnx", query],
  ] as const) {
    const upload = await uploadModel(name, version, await fixtureBytes(path), q);
    expect(upload.status, await upload.clone().text()).toBe(201);
  }
  return name;
}

export async function adminModel(name: string): Promise<AdminModel> {
  const response = await call(`/admin/models/${name}`, { key: ADMIN });
  expect(response.status).toBe(200);
  return (await response.json()) as AdminModel;
}

/** `force`: the version is the default or the last ready one, which a plain delete refuses. Returns when its bytes go. */
export async function deleteVersion(name: string, version: string, force = false): Promise<Date> {
  const response = await call(`/admin/models/${name}/versions/${version}${force ? "?force=true" : ""}`, { method: "DELETE", key: ADMIN });
  expect(response.status, await response.clone().text()).toBe(200);
  const body = (await response.json()) as { deleted: unknown; bytesRemovedAt: string };
  expect(body.deleted).toEqual({ name, version });
  return new Date(body.bytesRemovedAt);
}

/**
 * Runs the registry's alarm after making every pending removal of `name` due: the registry's
 * own SQL is moved forward in time, since the test cannot wait the minute and more it keeps
 * deleted bytes.
 */
export async function removeDeletedBytesNow(name: string): Promise<void> {
  const registry = registryStub();
  await runInDurableObject(registry, (_instance, state) => {
    state.storage.sql.exec("UPDATE byte_removals SET remove_at = 0 WHERE name = ?", name);
  });
  expect(await runDurableObjectAlarm(registry), "the registry had an alarm set").toBe(true);
}
