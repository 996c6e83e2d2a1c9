/**
 * @module An upload that fails at any step leaves nothing half-done, through the real Worker,
 * registry, ModelHost, KV and R2: bytes no host can load, a second upload of the same version at
 * once, an origin pool that cannot load the model, and a KV publication that fails (after the
 * write landed, as a timeout does) each leave no version in the registry, no object in R2 but
 * the one that serves, and a catalog in KV that agrees with the registry. A delete whose
 * publication fails is undone the same way.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { catalogKey } from "../../protocol/model-record.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { expectRefusal, freshName } from "./refusals.ts";
import { adminModel, catalogWrites, catalogWriteSlotFree, lifecycleOf, registryStub, storedObjects } from "./lifecycle.ts";

const TINY = "models/mlp-tiny/1/model.onnx";
let key: string;
let v1: Fixture;

beforeAll(async () => {
  key = await createTenant(freshName("upload-failures"), "premium");
  v1 = await loadFixture("mlp-tiny");
});

/** The registry knows none of the model, R2 holds none of its bytes, KV has no record of it. */
async function expectNoTrace(name: string): Promise<void> {
  expect(await registryStub().get(name)).toBeUndefined();
  expect(await storedObjects(name)).toEqual([]);
  expect(await env.CATALOG.get(catalogKey(name))).toBeNull();
}

/** KV holds exactly the registry's record of the model. */
async function expectCatalogAgrees(name: string): Promise<void> {
  expect(await env.CATALOG.get(catalogKey(name), "json")).toEqual(JSON.parse(JSON.stringify(await registryStub().get(name))));
  expect((await lifecycleOf(name)).publication.stale).toBe(false);
}

describe("an upload that fails", () => {
  it("bytes no host can load: 400 with the reason, and no trace of the model", async () => {
    const name = freshName("fail-inspect");
    const response = await uploadModel(name, "1", new TextEncoder().encode("not an onnx model at all"));
    expect(response.status, await response.clone().text()).toBe(400);
    await expectNoTrace(name);
    expect(await catalogWrites(name)).toBe(0);
  });

  it("two uploads of one version at once: one is added, the other is 409 and leaves only the winner's bytes", async () => {
    const name = freshName("fail-race");
    const bytes = await fixtureBytes(TINY);
    const upload = () => uploadModel(name, "1", bytes, "?max_batch=16");
    const statuses = (await Promise.all([upload(), upload()])).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409]);
    const [version] = (await adminModel(name)).versions;
    expect(await storedObjects(name)).toEqual([version!.r2Key]);
    expect((await inferJson(name, key, { inputs: v1.inputs })).status).toBe(200);
    await expectCatalogAgrees(name);
  });

  it("placement=origin with no origin pool to load it: 503, no trace, no KV write", async () => {
    const name = freshName("fail-pool");
    // The test Worker has no origin pool (ORIGINS is empty): the bytes are stored, the load fails.
    expect(JSON.parse(env.ORIGINS)).toEqual([]);
    const response = await uploadModel(name, "1", await fixtureBytes(TINY), "?placement=origin");
    expect(await expectRefusal(response, 503)).toMatch(/reachable origin pool/);
    await expectNoTrace(name);
    expect(await catalogWrites(name)).toBe(0);
  });
});

/** The registry's own env, kept to put back after a test broke its KV. */
let registryEnv: Env | undefined;

/** KV writes that land and then throw, as a write that timed out after reaching KV does. */
function landingThenFailing(kv: KVNamespace): KVNamespace {
  return new Proxy(kv, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      const method = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
      if (prop !== "put" && prop !== "delete") return method;
      return async (...args: unknown[]) => {
        await method(...args);
        throw new Error("KV PUT failed: 504 Gateway Timeout");
      };
    },
  });
}

/** From now on the registry's KV writes land and then fail, until the test ends. */
async function breakRegistryCatalogWrites(): Promise<void> {
  await runInDurableObject(registryStub(), (instance) => {
    const holder = instance as unknown as { env: Env };
    registryEnv = holder.env;
    holder.env = { ...registryEnv, CATALOG: landingThenFailing(registryEnv.CATALOG) };
  });
}

/** Puts the registry's own KV back. */
async function repairRegistryCatalogWrites(): Promise<void> {
  if (!registryEnv) return;
  const original = registryEnv;
  registryEnv = undefined;
  await runInDurableObject(registryStub(), (instance) => {
    (instance as unknown as { env: Env }).env = original;
  });
}

afterEach(repairRegistryCatalogWrites);

/**
 * KV works again, and the registry's alarm (set for when it may write the model's key again, a
 * second after the failed write) writes the record again: what puts KV back in line. The alarm
 * is run at once when it has not fired by itself yet.
 */
async function republish(name: string): Promise<void> {
  await repairRegistryCatalogWrites();
  for (let tries = 0; (await lifecycleOf(name)).publication.stale; tries++) {
    expect(tries, "the alarm published the record again").toBeLessThan(50);
    await catalogWriteSlotFree(name);
    await runDurableObjectAlarm(registryStub());
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("a KV publication that fails", () => {
  it("undoes the upload: 503 with Retry-After, the version is not registered, its bytes and session are gone, and the alarm sets KV right", async () => {
    const name = freshName("fail-publish");
    expect((await uploadModel(name, "1", await fixtureBytes(TINY), "?max_batch=16")).status).toBe(201);
    await catalogWriteSlotFree(name);
    await breakRegistryCatalogWrites();

    const response = await uploadModel(name, "2", await fixtureBytes("fixtures/mlp-tiny-v2.onnx"));
    expect(await expectRefusal(response, 503)).toMatch(/catalog could not be updated.*try again/);
    const model = await adminModel(name);
    expect(model.versions.map((v) => v.version)).toEqual(["1"]);
    expect(await storedObjects(name)).toEqual([model.versions[0]!.r2Key]);
    expect(model.hosts[0]!.sessions.filter((s) => s.version === "2")).toEqual([]);
    // The failed write landed: KV names version 2, which the registry has forgotten.
    expect(model.publication.stale).toBe(true);
    expect((await env.CATALOG.get<{ versions: unknown[] }>(catalogKey(name), "json"))!.versions).toHaveLength(2);

    await republish(name);
    await expectCatalogAgrees(name);
  });

  it("undoes the delete: 503, the version still serves and its bytes are not scheduled for removal", async () => {
    const name = freshName("fail-delete");
    expect((await uploadModel(name, "1", await fixtureBytes(TINY), "?max_batch=16")).status).toBe(201);
    await catalogWriteSlotFree(name);
    await breakRegistryCatalogWrites();

    const response = await call(`/admin/models/${name}/versions/1?force=true`, { method: "DELETE", key: ADMIN });
    expect(await expectRefusal(response, 503)).toMatch(/nothing was changed/);
    const model = await adminModel(name);
    expect(model.versions.map((v) => [v.version, v.state])).toEqual([["1", "ready"]]);
    expect(model.pendingRemovals).toEqual([]);
    expect((await inferJson(name, key, { inputs: v1.inputs })).status).toBe(200);

    await republish(name);
    await expectCatalogAgrees(name);
  });
});
