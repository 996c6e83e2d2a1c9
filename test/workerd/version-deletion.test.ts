/**
 * @module Deleting a model version while it serves (`DELETE /admin/models/{m}/versions/{v}`),
 * through the real Worker, registry and ModelHost: requests already routed to the version are
 * answered by it (its bytes stay in R2 until nothing can route to them), later requests for it
 * get 404, the default moves to the remaining version (a pin on the deleted one is dropped), and
 * once the registry has removed the bytes no host keeps a session of the deleted version.
 * Deleting the default or the last ready version needs ?force=true, and a version uploaded again
 * with other bytes is served from the new ones.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { expectOutputsClose, loadFixture, type Fixture } from "./fixtures.ts";
import { heldPost, jsonBody } from "./held-request.ts";
import { freshName } from "./refusals.ts";
import { adminModel, catalogWriteSlotFree, deleteVersion, removeDeletedBytesNow, twoVersions } from "./lifecycle.ts";

let key: string;
let v1: Fixture;
let v2: Fixture;

beforeAll(async () => {
  key = await createTenant(freshName("deletion"), "premium");
  v1 = await loadFixture("mlp-tiny");
  v2 = await loadFixture("mlp-tiny-v2");
});

/**
 * Held requests outlast admin calls, which wait for the KV write slot of the model's key (one a
 * second): a deadline long enough that the requests are answered, not timed out.
 */
const LONG_DEADLINE = { [TIMEOUT_HEADER]: "10000" };

/** A request routed to version 2 before its delete: answered by version 2 itself (`rows` of the fixture's input). */
async function expectAnsweredByVersionTwo(response: Response, rows = v2.outputs[0]!.shape[0]!): Promise<void> {
  expect(response.status, await response.clone().text()).toBe(200);
  const answer = (await response.json()) as { model_version: string; outputs: Fixture["outputs"] };
  expect(answer.model_version).toBe("2");
  const expected = v2.outputs.map((o) => ({ ...o, shape: [rows, ...o.shape.slice(1)], data: o.data.slice(0, (o.data.length / o.shape[0]!) * rows) }));
  expectOutputsClose(answer.outputs, expected);
}

/** After version 2 is deleted: it is 404 everywhere, the default is 1, and no host keeps it. */
async function expectOnlyVersionOne(name: string): Promise<void> {
  const byVersion = await inferJson(name, key, { inputs: v1.inputs }, "2");
  expect(byVersion.status).toBe(404);
  expect(((await byVersion.json()) as { error: string }).error).toMatch(/unknown version '2'/);
  expect((await call(`/v2/models/${name}/versions/2`, { key })).status).toBe(404);
  expect((await call(`/v2/models/${name}/versions/2/ready`, { key })).status).toBe(404);

  const byDefault = await inferJson(name, key, { inputs: v1.inputs });
  expect(byDefault.status).toBe(200);
  const body = (await byDefault.json()) as { model_version: string; outputs: Fixture["outputs"] };
  expect(body.model_version).toBe("1");
  expectOutputsClose(body.outputs, v1.outputs);

  const record = await adminModel(name);
  expect(record.versions.map((v) => v.version)).toEqual(["1"]);
  expect(record.defaultVersion).toBe("1");
  expect(record.pinnedVersion).toBeUndefined();
  expect(
    record.hosts[0]!.sessions.filter((s) => s.version === "2"),
    "the host released version 2",
  ).toEqual([]);
}

describe("deleting a version while it serves", () => {
  it("requests routed to the version before the delete are answered by it; later ones get 404; the pinned default falls back", async () => {
    const name = await twoVersions("deleted-routed");
    const pinned = await call(`/admin/models/${name}/default`, { method: "PUT", key: ADMIN, body: JSON.stringify({ version: "2" }) });
    expect(pinned.status).toBe(200);
    const warm = await inferJson(name, key, { inputs: v1.inputs });
    expect(((await warm.json()) as { model_version: string }).model_version).toBe("2");

    // Two requests the router has already resolved to version 2 (one by name, one as the
    // default), held at the router until after the delete.
    const body = jsonBody({ inputs: v1.inputs });
    const named = heldPost(`/v2/models/${name}/versions/2/infer`, key, body, LONG_DEADLINE);
    const byDefault = heldPost(`/v2/models/${name}/infer`, key, body, LONG_DEADLINE);
    await Promise.all([named.reading, byDefault.reading]);

    await deleteVersion(name, "2", true);
    named.release();
    byDefault.release();
    // The host dropped its session at the delete; they load version 2 again from the bytes kept.
    for (const held of [named, byDefault]) await expectAnsweredByVersionTwo(await held.response);
    await removeDeletedBytesNow(name);
    await expectOnlyVersionOne(name);
  });

  it("a request queued at the host for the version when it is deleted is answered by it", async () => {
    // Version 2 holds a lone request up to 1 s to fill a batch: it waits in the host's queue.
    const name = await twoVersions("deleted-queued", "?max_batch=16&max_queue_delay_microseconds=1000000");
    // So the delete below is not held up behind the upload's KV write while the batch hold runs out.
    await catalogWriteSlotFree(name);
    // A deadline far past the hold, so the hold ends by its own limit, not near the deadline.
    const row = { ...v2.inputs[0]!, shape: [1, 16], data: v2.inputs[0]!.data.slice(0, 16) };
    const queued = call(`/v2/models/${name}/versions/2/infer`, {
      method: "POST",
      key,
      body: JSON.stringify({ inputs: [row] }),
      headers: { [TIMEOUT_HEADER]: "10000" },
    });
    let answered = false;
    void queued.then(() => (answered = true));
    while ((await adminModel(name)).hosts[0]!.load.queued === 0) expect(answered, "answered before it was seen queued").toBe(false);

    await deleteVersion(name, "2", true);
    expect(answered, "the delete finished while the request was still held for its batch").toBe(false);
    await expectAnsweredByVersionTwo(await queued, 1);
    await removeDeletedBytesNow(name);
    await expectOnlyVersionOne(name);
  });

  it("deleting the other version leaves requests in flight for the default untouched, on its warm session", async () => {
    const name = await twoVersions("deleted-other");
    const body = jsonBody({ inputs: v1.inputs });
    const held = Array.from({ length: 3 }, () => heldPost(`/v2/models/${name}/infer`, key, body, LONG_DEADLINE));
    await Promise.all(held.map((h) => h.reading));
    await deleteVersion(name, "1");
    for (const h of held) h.release();
    for (const h of held) {
      const response = await h.response;
      expect(response.status, await response.clone().text()).toBe(200);
      expect(response.headers.get("server-timing"), "version 2 stayed warm").not.toMatch(/\bload;/);
      const answer = (await response.json()) as { model_version: string; outputs: Fixture["outputs"] };
      expect(answer.model_version).toBe("2");
      expectOutputsClose(answer.outputs, v2.outputs);
    }
    expect((await inferJson(name, key, { inputs: v1.inputs }, "1")).status).toBe(404);
  });
});

/** A delete without ?force=true that must be refused with 409; returns the error message. */
async function unforcedDelete(name: string, version: string): Promise<string> {
  const response = await call(`/admin/models/${name}/versions/${version}`, { method: "DELETE", key: ADMIN });
  const text = await response.text();
  expect(response.status, text).toBe(409);
  return (JSON.parse(text) as { error: string }).error;
}

describe("deleting the default or the last ready version", () => {
  it("is refused with 409 unless ?force=true, and the model is untouched by the refusal", async () => {
    const name = await twoVersions("deleted-guarded");
    expect(await unforcedDelete(name, "2")).toMatch(/default version.*\?force=true/);
    expect((await adminModel(name)).versions.map((v) => v.version)).toEqual(["1", "2"]);

    // Version 1 is neither the default nor the last ready one: no force needed.
    await deleteVersion(name, "1");
    expect(await unforcedDelete(name, "2")).toMatch(/\?force=true/);
    await deleteVersion(name, "2", true);
    expect((await call(`/admin/models/${name}`, { key: ADMIN })).status).toBe(404);
  });

  it("a pinned older version is the default, so it needs force too, while the newer one does not", async () => {
    const name = await twoVersions("deleted-pinned");
    expect((await call(`/admin/models/${name}/default`, { method: "PUT", key: ADMIN, body: JSON.stringify({ version: "1" }) })).status).toBe(200);
    expect(await unforcedDelete(name, "1")).toMatch(/default version/);
    await deleteVersion(name, "2");
  });
});

describe("a version deleted and uploaded again with other bytes", () => {
  const upload = async (name: string, path: string) => {
    const response = await uploadModel(name, "1", await fixtureBytes(path), "?max_batch=16");
    expect(response.status, await response.clone().text()).toBe(201);
  };
  const infer = async (name: string): Promise<Fixture["outputs"]> => {
    const response = await inferJson(name, key, { inputs: v1.inputs }, "1");
    expect(response.status, await response.clone().text()).toBe(200);
    return ((await response.json()) as { outputs: Fixture["outputs"] }).outputs;
  };

  it("is served from the new bytes", async () => {
    const name = freshName("reuploaded");
    await upload(name, "models/mlp-tiny/1/model.onnx");
    expectOutputsClose(await infer(name), v1.outputs);
    await deleteVersion(name, "1", true);
    await upload(name, "fixtures/mlp-tiny-v2.onnx");
    expectOutputsClose(await infer(name), v2.outputs);
  });

  it("is served from the new bytes even by a host that still holds a session of the old ones", async () => {
    const name = freshName("reuploaded-stale");
    await upload(name, "models/mlp-tiny/1/model.onnx");
    expectOutputsClose(await infer(name), v1.outputs);
    const before = await adminModel(name);
    const old = before.versions[0]!;
    await deleteVersion(name, "1", true);

    // The registry's drop reaches only the hosts it knows of, and a request routed to the old
    // bytes just before the delete can load them again after it (they stay in R2 a while):
    // either way a host can hold the old session. Made here by warming it directly.
    const warmed = await env.MODEL_HOST.getByName(before.hosts[0]!.host).warm(old);
    expect(warmed.ok, JSON.stringify(warmed)).toBe(true);

    await upload(name, "fixtures/mlp-tiny-v2.onnx");
    expectOutputsClose(await infer(name), v2.outputs);
  });
});
