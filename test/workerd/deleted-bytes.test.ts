/**
 * @module What becomes of a deleted version's bytes, through the real Worker, registry, ModelHost,
 * KV and R2. The routers keep routing to a deleted version for a while (KV reaches other
 * locations within a minute, then each isolate caches the catalog), so the bytes stay in R2,
 * listed by the registry as pending removal, until its alarm removes them; the host's warm
 * session is dropped at once all the same. A router whose catalog still names the version gets
 * that version's own answer while the bytes are kept, then a clean 503, and 404 once its catalog
 * is current: never a 500, and never the answer of other bytes.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { BYTES_KEPT_AFTER_DELETE_MS } from "../../durable-objects/model-registry/byte-removals.ts";
import { CATALOG_CACHE_MS, catalogKey } from "../../protocol/model-record.ts";
import { createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { expectOutputsClose, loadFixture, type Fixture } from "./fixtures.ts";
import { expectRefusal, freshName } from "./refusals.ts";
import { adminModel, deleteVersion, lifecycleOf, registryStub, removeDeletedBytesNow, storedObjects, twoVersions } from "./lifecycle.ts";

let key: string;
let v1: Fixture;
let v2: Fixture;

beforeAll(async () => {
  key = await createTenant(freshName("deleted-bytes"), "premium");
  v1 = await loadFixture("mlp-tiny");
  v2 = await loadFixture("mlp-tiny-v2");
});

/** Infers with the fixture's inputs; on 200, the version that answered and its outputs. */
async function infer(name: string, version?: string): Promise<{ status: number; version?: string; outputs?: Fixture["outputs"]; response: Response }> {
  const response = await inferJson(name, key, { inputs: v1.inputs }, version);
  if (response.status !== 200) return { status: response.status, response };
  const body = (await response.json()) as { model_version: string; outputs: Fixture["outputs"] };
  return { status: 200, version: body.model_version, outputs: body.outputs, response };
}

/** What a location KV has not reached yet still reads: the record as it was before the delete. */
async function catalogAsBefore(name: string, before: string): Promise<void> {
  await env.CATALOG.put(catalogKey(name), before);
}

/** The catalog catches up: KV holds the registry's record and this isolate's cache has expired. */
async function catalogCurrent(name: string): Promise<void> {
  await env.CATALOG.put(catalogKey(name), JSON.stringify(await registryStub().get(name)));
  await new Promise((resolve) => setTimeout(resolve, CATALOG_CACHE_MS + 100));
}

describe("a deleted version's bytes", () => {
  it("stay in R2, listed as pending removal, until the registry's alarm removes them; the host drops its session at once", async () => {
    const name = await twoVersions("bytes-kept");
    expect((await infer(name, "2")).status).toBe(200);
    const [one, two] = (await adminModel(name)).versions;
    const deletedAt = Date.now();
    const removedAt = await deleteVersion(name, "2", true);
    expect(removedAt.getTime()).toBeGreaterThanOrEqual(deletedAt + BYTES_KEPT_AFTER_DELETE_MS);
    expect(removedAt.getTime()).toBeLessThanOrEqual(Date.now() + BYTES_KEPT_AFTER_DELETE_MS);

    expect(await env.MODELS.head(two!.r2Key), "the bytes are still in R2").not.toBeNull();
    const after = await adminModel(name);
    expect(after.pendingRemovals).toEqual([
      { r2Key: two!.r2Key, name, version: "2", sha256: two!.sha256, deletedAt: expect.any(Number), removeAt: removedAt.getTime() },
    ]);
    expect(
      after.hosts[0]!.sessions.filter((s) => s.version === "2"),
      "the host dropped version 2 at once",
    ).toEqual([]);

    await removeDeletedBytesNow(name);
    expect(await env.MODELS.head(two!.r2Key), "the alarm removed the bytes").toBeNull();
    expect((await lifecycleOf(name)).pendingRemovals).toEqual([]);
    expect(await storedObjects(name)).toEqual([one!.r2Key]);
  });
});

describe("a router whose catalog still names a deleted version", () => {
  it("is answered by that version while its bytes are kept, then refused with a clean 503, and gets 404 once its catalog is current", async () => {
    const name = await twoVersions("stale-catalog");
    const before = (await env.CATALOG.get(catalogKey(name)))!;
    await deleteVersion(name, "2", true);
    await catalogAsBefore(name, before);

    for (const version of ["2", undefined]) {
      const answer = await infer(name, version);
      expect(answer.status, "routed to the deleted version by a stale catalog").toBe(200);
      expect(answer.version).toBe("2");
      expectOutputsClose(answer.outputs!, v2.outputs);
    }

    await removeDeletedBytesNow(name);
    expect(await expectRefusal(await inferJson(name, key, { inputs: v1.inputs }, "2"), 503)).toMatch(/bytes are unavailable/);

    await catalogCurrent(name);
    const unknown = await infer(name, "2");
    expect(unknown.status).toBe(404);
    expect(await unknown.response.text()).toMatch(/unknown version '2'/);
    expect((await infer(name)).version).toBe("1");
  });

  it("uploaded again with other bytes: the stale catalog gets the old bytes' answer or a 503, the current one the new bytes'", async () => {
    const name = freshName("stale-reupload");
    const upload = async (path: string) => expect((await uploadModel(name, "1", await fixtureBytes(path), "?max_batch=16")).status).toBe(201);
    await upload("models/mlp-tiny/1/model.onnx");
    expectOutputsClose((await infer(name, "1")).outputs!, v1.outputs);
    const before = (await env.CATALOG.get(catalogKey(name)))!;
    await deleteVersion(name, "1", true);
    await upload("fixtures/mlp-tiny-v2.onnx");

    await catalogAsBefore(name, before);
    expectOutputsClose((await infer(name, "1")).outputs!, v1.outputs);
    await removeDeletedBytesNow(name);
    expect(await expectRefusal(await inferJson(name, key, { inputs: v1.inputs }, "1"), 503)).toMatch(/bytes are unavailable/);

    await catalogCurrent(name);
    expectOutputsClose((await infer(name, "1")).outputs!, v2.outputs);
  });
});
