/**
 * @module Model variants through the real Worker, ModelRegistry, ModelHost, KV and R2: uploading
 * other bytes of a version, the signature check, the accuracy guard (mlp-tiny's own bytes as a
 * variant: error 0; the same MLP with weights from another seed: a large error, refused under a
 * bound), metadata, pinning a variant with `parameters.variant`, and deleting it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { ModelRecord, VariantRecord } from "../../protocol/model-record.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { expectOutputsClose, loadFixture, type Fixture } from "./fixtures.ts";
import { catalogWrites, catalogWriteSlotFree, deleteVersion, lifecycleOf, storedObjects } from "./lifecycle.ts";
import { freshName } from "./refusals.ts";

const TINY = "models/mlp-tiny/1/model.onnx";
/** mlp-tiny's layers with weights from seed 2: same signature, other outputs. */
const OTHER_SEED = "fixtures/mlp-tiny-v2.onnx";
/** An MLP taking 256 inputs: not a stand-in for mlp-tiny. */
const WIDE = "fixtures/mlp-wide.onnx";

let premium: string;
let tiny: Fixture;
let otherSeed: Fixture;

beforeAll(async () => {
  premium = await createTenant(freshName("variants-premium"), "premium");
  tiny = await loadFixture("mlp-tiny");
  otherSeed = await loadFixture("mlp-tiny-v2");
});

async function modelWithVersion(prefix: string): Promise<string> {
  const name = freshName(prefix);
  const upload = await uploadModel(name, "1", await fixtureBytes(TINY), "?max_batch=16");
  expect(upload.status, await upload.clone().text()).toBe(201);
  return name;
}

async function uploadVariant(name: string, variant: string, path: string, query = "", headers: Record<string, string> = {}): Promise<Response> {
  const bytes = await fixtureBytes(path);
  await catalogWriteSlotFree(name);
  return call(`/admin/models/${name}/versions/1/variants/${variant}${query}`, {
    method: "PUT",
    key: ADMIN,
    body: bytes,
    headers: { "content-length": String(bytes.byteLength), "content-type": "application/octet-stream", ...headers },
  });
}

async function adminVariants(name: string): Promise<VariantRecord[]> {
  const response = await call(`/admin/models/${name}`, { key: ADMIN });
  const record = (await response.json()) as ModelRecord;
  return record.versions.find((v) => v.version === "1")?.variants ?? [];
}

async function variantObjects(name: string): Promise<string[]> {
  return (await storedObjects(name)).filter((key) => key.includes("/variants/"));
}

describe("uploading a variant", () => {
  it("records the error against the default (0 for the same bytes), lists it in the metadata, and deletes it", async () => {
    const name = await modelWithVersion("variant-same");
    const upload = await uploadVariant(name, "same", TINY, "?max_error=0&probes=8");
    const body = (await upload.json()) as { variant: VariantRecord };
    expect(upload.status, JSON.stringify(body)).toBe(201);
    expect(body.variant).toMatchObject({ variant: "same", placement: "edge", maxError: 0 });
    expect(body.variant.accuracy).toEqual({ probes: 8, source: "generated", maxAbsError: 0, maxRelError: 0, top1Agreement: 1 });
    expect((await adminVariants(name)).map((v) => v.variant)).toEqual(["same"]);

    const metadata = await call(`/v2/models/${name}`, { key: premium });
    const listed = ((await metadata.json()) as { parameters: { variants: { name: string; bytes: number; placement: string; accuracy: unknown }[] } }).parameters
      .variants;
    expect(listed).toEqual([
      expect.objectContaining({ name: "same", bytes: (await fixtureBytes(TINY)).byteLength, placement: "edge", accuracy: body.variant.accuracy }),
    ]);

    await catalogWriteSlotFree(name);
    const deleted = await call(`/admin/models/${name}/versions/1/variants/same`, { method: "DELETE", key: ADMIN });
    expect(deleted.status, await deleted.clone().text()).toBe(200);
    expect(await adminVariants(name)).toEqual([]);
    // Its bytes stay until no router can route to them, as a deleted version's do.
    expect((await lifecycleOf(name)).pendingRemovals.map((r) => r.r2Key)).toEqual([body.variant.r2Key]);
    const pinned = await inferJson(name, premium, { inputs: tiny.inputs, parameters: { variant: "same" } });
    expect(pinned.status).toBe(400);
    const again = await call(`/admin/models/${name}/versions/1/variants/same`, { method: "DELETE", key: ADMIN });
    expect(again.status).toBe(404);
  });

  it("goes with its version: deleting the version schedules the variant's bytes for removal too", async () => {
    const name = await modelWithVersion("variant-version-gone");
    const upload = await uploadVariant(name, "int8", TINY);
    expect(upload.status, await upload.clone().text()).toBe(201);
    const { variant } = (await upload.json()) as { variant: VariantRecord };
    await catalogWriteSlotFree(name);
    await deleteVersion(name, "1", true);
    const pending = (await lifecycleOf(name)).pendingRemovals.map((r) => r.r2Key);
    expect(pending).toContain(variant.r2Key);
    expect(pending).toHaveLength(2);
  });

  it("measures the uploader's probes from the header, and accepts a variant with a large error when no bound is set", async () => {
    const name = await modelWithVersion("variant-probes");
    const probes = JSON.stringify({ inputs: tiny.inputs });
    const upload = await uploadVariant(name, "seed2", OTHER_SEED, "", { "x-hotpath-probe-inputs": probes });
    const body = (await upload.json()) as { variant: VariantRecord };
    expect(upload.status, JSON.stringify(body)).toBe(201);
    // The error on the fixture's inputs is exactly what onnxruntime-node's outputs of the two models differ by.
    const expected = Math.max(...tiny.outputs[0]!.data.map((x, i) => Math.abs(x - otherSeed.outputs[0]!.data[i]!)));
    expect(body.variant.accuracy.source).toBe("uploaded");
    expect(body.variant.accuracy.probes).toBe(3);
    expect(body.variant.accuracy.maxAbsError).toBeCloseTo(expected, 4);
    expect(body.variant.maxError).toBeNull();
  });

  it("refuses a variant over max_error with 422 and leaves nothing in the registry, KV or R2", async () => {
    const name = await modelWithVersion("variant-guard");
    const writes = await catalogWrites(name);
    const upload = await uploadVariant(name, "seed2", OTHER_SEED, "?max_error=0.001");
    const message = ((await upload.json()) as { error: string }).error;
    expect(upload.status, message).toBe(422);
    expect(message).toMatch(/over max_error=0.001/);
    expect(await adminVariants(name)).toEqual([]);
    expect(await variantObjects(name)).toEqual([]);
    expect(await catalogWrites(name)).toBe(writes);
  });

  it("refuses bytes of another signature with 400, leaving nothing behind", async () => {
    const name = await modelWithVersion("variant-mismatch");
    const upload = await uploadVariant(name, "wide", WIDE);
    const message = ((await upload.json()) as { error: string }).error;
    expect(upload.status, message).toBe(400);
    expect(message).toMatch(/does not match version '1'.*input 'input' has shape \[-1, 256\]/);
    expect(await adminVariants(name)).toEqual([]);
    expect(await variantObjects(name)).toEqual([]);
  });

  it("refuses reserved and malformed names, unknown placements, bad bounds, and a variant that exists", async () => {
    const name = await modelWithVersion("variant-names");
    expect((await uploadVariant(name, "default", TINY)).status).toBe(400);
    expect((await uploadVariant(name, "auto", TINY)).status).toBe(400);
    expect((await uploadVariant(name, "int8", TINY, "?placement=gpu")).status).toBe(400);
    expect((await uploadVariant(name, "int8", TINY, "?max_error=-1")).status).toBe(400);
    expect((await uploadVariant(name, "int8", TINY, "?probes=0")).status).toBe(400);
    expect((await uploadVariant(name, "int8", TINY, "", { "x-hotpath-probe-inputs": "{not json" })).status).toBe(400);
    expect(await variantObjects(name)).toEqual([]);
    expect((await uploadVariant(name, "int8", TINY)).status).toBe(201);
    expect((await uploadVariant(name, "int8", TINY)).status).toBe(409);
    const unknownVersion = await call(`/admin/models/${name}/versions/9/variants/int8`, {
      method: "PUT",
      key: ADMIN,
      body: new Uint8Array(8),
      headers: { "content-length": "8" },
    });
    expect(unknownVersion.status).toBe(404);
  });
});

describe("parameters.variant", () => {
  it("runs a pinned variant (its own outputs, marked), the default otherwise, and refuses unknown names with 400", async () => {
    const name = await modelWithVersion("variant-pin");
    expect((await uploadVariant(name, "seed2", OTHER_SEED)).status).toBe(201);

    const pinned = await inferJson(name, premium, { inputs: otherSeed.inputs, parameters: { variant: "seed2" } });
    const pinnedBody = (await pinned.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
    expect(pinned.status, JSON.stringify(pinnedBody)).toBe(200);
    expect(pinned.headers.get("x-hotpath-variant")).toBe("seed2");
    expect(pinned.headers.get("server-timing")).toMatch(/variant;desc="seed2"/);
    expectOutputsClose(pinnedBody.outputs, otherSeed.outputs);

    for (const parameters of [{}, { variant: "default" }, { variant: "auto" }]) {
      const plain = await inferJson(name, premium, { inputs: tiny.inputs, parameters });
      const plainBody = (await plain.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
      expect(plain.status, JSON.stringify(plainBody)).toBe(200);
      expect(plain.headers.get("x-hotpath-variant")).toBeNull();
      expectOutputsClose(plainBody.outputs, tiny.outputs);
    }

    const unknown = await inferJson(name, premium, { inputs: tiny.inputs, parameters: { variant: "int4" } });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/has no variant 'int4'; it has default, auto, seed2/);
    const notAName = await inferJson(name, premium, { inputs: tiny.inputs, parameters: { variant: 8 } });
    expect(notAName.status).toBe(400);
    // No variant has a name outside NAME_PATTERN, and the refusal does not repeat one.
    const long = await inferJson(name, premium, { inputs: tiny.inputs, parameters: { variant: "v".repeat(100_000) } });
    const longError = ((await long.json()) as { error: string }).error;
    expect([long.status, longError]).toEqual([400, 'parameters.variant must be a variant\'s name, "default" or "auto"']);
  });
});
