/**
 * @module Variants placed on the origin pool, through the real Worker, ModelRegistry, ModelHost, KV
 * and R2, with an origin answered in this isolate (fake-origin.ts: it fetches what it loads from the
 * edge's internal route and runs it on an edge model of the same bytes). An `origin` variant is
 * loaded by the origins under its served version `<version>~<variant>` before it is proven, measured
 * there against the default, pinned or degraded requests run it on the pool, deleting it unloads it,
 * and a failed upload leaves nothing behind; the public OIP surface has no such version.
 */
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ModelRecord, VariantRecord } from "../../protocol/model-record.ts";
import { sha256Hex } from "../../protocol/sha256.ts";
import { installFakeOrigin, through, type FakeOrigin } from "./fake-origin.ts";
import { expectOutputsClose, loadFixture, type Fixture } from "./fixtures.ts";
import { ADMIN, call, createTenant, fixtureBytes, uploadModel } from "./helpers.ts";
import { catalogWriteSlotFree, storedObjects } from "./lifecycle.ts";
import { expectRetryAfter, freshName } from "./refusals.ts";

const TINY = "models/mlp-tiny/1/model.onnx";
/** mlp-tiny's layers with weights from seed 2: same signature, other outputs. */
const OTHER_SEED = "fixtures/mlp-tiny-v2.onnx";
const POOL_URL = "https://variants-pool.test";
/** An origin that serves only variants now (its defaults failed to load): partly ready. */
const PARTIAL_URL = "https://variants-pool-partial.test";

let keys: Record<"premium" | "standard", string>;
let tiny: Fixture;
let origin: FakeOrigin;
let withPool: Env;
let withPartialPool: Env;
const twins = new Map<string, string>();

beforeAll(async () => {
  keys = { premium: await createTenant(freshName("vorigin-premium"), "premium"), standard: await createTenant(freshName("vorigin-standard"), "standard") };
  tiny = await loadFixture("mlp-tiny");
  for (const path of [TINY, OTHER_SEED]) {
    const twin = freshName("vorigin-twin");
    const bytes = await fixtureBytes(path);
    expect((await uploadModel(twin, "1", bytes, "?max_batch=16")).status).toBe(201);
    twins.set(await sha256Hex(bytes), twin);
  }
  origin = installFakeOrigin({
    urls: [POOL_URL, PARTIAL_URL],
    twinOf: (sha256) => twins.get(sha256),
    key: () => keys.premium,
    partial: (url) => (url === PARTIAL_URL ? [...origin.loaded.keys()].filter((served) => served.includes("~")) : undefined),
  });
  withPool = origin.envWith("variants-pool", POOL_URL);
  withPartialPool = origin.envWith("variants-pool-partial", PARTIAL_URL);
});

afterAll(() => vi.restoreAllMocks());

async function putModel(bindings: Env, path: string, bytesPath: string): Promise<Response> {
  const bytes = await fixtureBytes(bytesPath);
  // A streamed body, as a request from the network has (the upload tees it into R2 and a DigestStream).
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
  return through(bindings, path, { method: "PUT", body, headers: { authorization: `Bearer ${ADMIN}`, "content-length": String(bytes.byteLength) } });
}

async function modelWithVersion(prefix: string, query = "?max_batch=16"): Promise<string> {
  const name = freshName(prefix);
  const upload = await putModel(withPool, `/admin/models/${name}/versions/1${query}`, TINY);
  expect(upload.status, await upload.clone().text()).toBe(201);
  await catalogWriteSlotFree(name);
  return name;
}

function infer(bindings: Env, name: string, key: string, parameters: Record<string, unknown> = {}): Promise<Response> {
  return through(bindings, `/v2/models/${name}/infer`, {
    method: "POST",
    body: JSON.stringify({ inputs: tiny.inputs, parameters }),
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
  });
}

async function variantsOf(name: string): Promise<VariantRecord[]> {
  const record = (await (await call(`/admin/models/${name}`, { key: ADMIN })).json()) as ModelRecord;
  return record.versions.find((v) => v.version === "1")?.variants ?? [];
}

const internal = (name: string, served: string) => call(`/internal/models/${name}/versions/${served}`, { key: env.ORIGIN_TOKEN });

describe("a variant with placement=origin", () => {
  it("of an edge version: loaded by the origins as 1~gpu, measured there, run on the pool when pinned, unloaded when deleted", async () => {
    const name = await modelWithVersion("vorigin-edge");
    const upload = await putModel(withPool, `/admin/models/${name}/versions/1/variants/gpu?placement=origin&max_error=0&probes=4`, TINY);
    const body = (await upload.json()) as { variant: VariantRecord };
    expect(upload.status, JSON.stringify(body)).toBe(201);
    expect(body.variant).toMatchObject({ variant: "gpu", placement: "origin", maxError: 0 });
    expect(body.variant.accuracy).toMatchObject({ probes: 4, maxAbsError: 0 });
    // The origin fetched the variant's own record and bytes under its served version, while it was only staged.
    const loaded = origin.loaded.get(`${name}@1~gpu`);
    expect(loaded).toMatchObject({ name, version: "1~gpu", r2Key: body.variant.r2Key, sha256: body.variant.sha256, placement: "origin" });
    expect(loaded).not.toHaveProperty("variant");
    expect(origin.inferPaths).toContain(`/v2/models/${name}/versions/1~gpu/infer`);

    const pinned = await infer(withPool, name, keys.premium, { variant: "gpu" });
    const pinnedBody = (await pinned.json()) as { model_version: string; outputs: { name: string; shape: number[]; data: number[] }[] };
    expect(pinned.status, JSON.stringify(pinnedBody)).toBe(200);
    expect(pinned.headers.get("x-served-by")).toBe("origin:variants-pool");
    expect(pinned.headers.get("x-hotpath-variant")).toBe("gpu");
    expect(pinnedBody.model_version).toBe("1");
    expectOutputsClose(pinnedBody.outputs, tiny.outputs);
    const plain = await infer(withPool, name, keys.premium);
    expect(plain.headers.get("x-served-by")).toMatch(/^edge:/);

    // The served version is the origins' name alone: tenants cannot address it.
    expect((await call(`/v2/models/${name}/versions/1~gpu`, { key: keys.premium })).status).toBe(400);
    expect((await call(`/internal/models/${name}/versions/1~gpu`)).status).toBe(401);

    await catalogWriteSlotFree(name);
    const deleted = await through(withPool, `/admin/models/${name}/versions/1/variants/gpu`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(deleted.status, await deleted.clone().text()).toBe(200);
    expect(origin.unloads).toContain(`${name}@1~gpu`);
    expect(origin.loaded.has(`${name}@1~gpu`)).toBe(false);
    expect((await internal(name, "1~gpu")).status).toBe(404);
  });

  it("over max_error: 422, and nothing left behind (no variant, no staged record, no R2 object, unloaded from the origins)", async () => {
    const name = await modelWithVersion("vorigin-guard");
    const upload = await putModel(withPool, `/admin/models/${name}/versions/1/variants/seed2?placement=origin&max_error=0.001&probes=4`, OTHER_SEED);
    const message = ((await upload.json()) as { error: string }).error;
    expect(upload.status, message).toBe(422);
    expect(origin.unloads).toContain(`${name}@1~seed2`);
    expect(origin.loaded.has(`${name}@1~seed2`)).toBe(false);
    expect(await variantsOf(name)).toEqual([]);
    expect((await internal(name, "1~seed2")).status).toBe(404);
    expect((await storedObjects(name)).filter((key) => key.includes("/variants/"))).toEqual([]);
  });

  it("with no origin configured: 503 with Retry-After, nothing stored", async () => {
    const name = await modelWithVersion("vorigin-nopool");
    const upload = await putModel(env, `/admin/models/${name}/versions/1/variants/gpu?placement=origin`, TINY);
    expect(upload.status, await upload.clone().text()).toBe(503);
    expectRetryAfter(upload);
    expect(await variantsOf(name)).toEqual([]);
    expect((await storedObjects(name)).filter((key) => key.includes("/variants/"))).toEqual([]);
  });

  it("goes with its version: deleting the version unloads the variant from the origins", async () => {
    const name = await modelWithVersion("vorigin-version-gone");
    const upload = await putModel(withPool, `/admin/models/${name}/versions/1/variants/int8?placement=origin`, TINY);
    expect(upload.status, await upload.clone().text()).toBe(201);
    await catalogWriteSlotFree(name);
    const deleted = await through(withPool, `/admin/models/${name}/versions/1?force=true`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN}` } });
    expect(deleted.status, await deleted.clone().text()).toBe(200);
    expect(origin.unloads).toContain(`${name}@1~int8`);
  });
});

describe("degradation to a variant on the pool", () => {
  it("an origin version no origin serves now: standard requests run on its origin variant there, premium gets 503", async () => {
    const name = await modelWithVersion("vorigin-degrade", "?placement=origin&max_batch=16");
    const upload = await putModel(withPool, `/admin/models/${name}/versions/1/variants/int8?placement=origin&max_error=0&probes=4`, TINY);
    expect(upload.status, await upload.clone().text()).toBe(201);
    // The partly ready origin lists only variants as ready (its default failed to load).
    const checked = await through(withPartialPool, "/admin/origins?check=now", { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(((await checked.json()) as { origins: { health: { state: string } }[] }).origins[0]!.health.state).toBe("partial");

    const degraded = await infer(withPartialPool, name, keys.standard);
    const body = (await degraded.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
    expect(degraded.status, JSON.stringify(body)).toBe(200);
    expect(degraded.headers.get("x-hotpath-variant")).toBe("int8");
    expect(degraded.headers.get("x-served-by")).toBe("origin:variants-pool-partial");
    expect(degraded.headers.get("server-timing")).toMatch(/degraded;desc="unavailable"/);
    // The variant's own session on the origin answered, not the default's (the same bytes here).
    expect(origin.inferPaths.at(-1)).toBe(`/v2/models/${name}/versions/1~int8/infer`);
    expectOutputsClose(body.outputs, tiny.outputs);

    const premium = await infer(withPartialPool, name, keys.premium);
    expect(premium.status, await premium.clone().text()).toBe(503);
    expectRetryAfter(premium);
    expect(premium.headers.get("x-hotpath-variant")).toBeNull();
  });
});

describe("a variant with placement=auto", () => {
  it("is proven and measured at the edge, runs there when pinned, and is unloaded from the origins when deleted", async () => {
    const name = await modelWithVersion("vorigin-auto");
    const upload = await putModel(withPool, `/admin/models/${name}/versions/1/variants/fast?placement=auto&max_error=0&probes=4`, TINY);
    const body = (await upload.json()) as { variant: VariantRecord };
    expect(upload.status, JSON.stringify(body)).toBe(201);
    expect(body.variant).toMatchObject({ placement: "auto", accuracy: { maxAbsError: 0 } });
    expect(origin.loaded.has(`${name}@1~fast`)).toBe(false);
    const pinned = await infer(withPool, name, keys.premium, { variant: "fast" });
    expect(pinned.status, await pinned.clone().text()).toBe(200);
    expect(pinned.headers.get("x-served-by")).toMatch(/^edge:/);
    expect(pinned.headers.get("x-hotpath-variant")).toBe("fast");
    await catalogWriteSlotFree(name);
    const deleted = await through(withPool, `/admin/models/${name}/versions/1/variants/fast`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(deleted.status).toBe(200);
    expect(origin.unloads).toContain(`${name}@1~fast`);
  });
});
