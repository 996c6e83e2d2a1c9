/**
 * @module Deleting a model version while it serves (`DELETE /admin/models/{m}/versions/{v}`),
 * through the real Worker, registry and ModelHost: requests already routed to the version are
 * answered (none hangs) with a clean refusal once its bytes are gone, later requests for it get
 * 404, the default moves to the remaining version (a pin on the deleted one is dropped), and the
 * host keeps no session of the deleted version. Deleting the default or the last ready version
 * needs ?force=true, and a version uploaded again with other bytes is served from the new ones.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import type { ModelRecord } from "../../protocol/model-record.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { expectOutputsClose, loadFixture, type Fixture } from "./fixtures.ts";
import { heldPost, jsonBody } from "./held-request.ts";
import { expectRefusal, freshName } from "./refusals.ts";

interface HostState {
  host: string;
  sessions: { model: string; version: string }[];
  load: { queued: number };
}
type AdminModel = ModelRecord & { hosts: HostState[] };

let key: string;
let v1: Fixture;
let v2: Fixture;

beforeAll(async () => {
  key = await createTenant(freshName("deletion"), "premium");
  v1 = await loadFixture("mlp-tiny");
  v2 = await loadFixture("mlp-tiny-v2");
});

/** A model with versions 1 and 2 (2 is the default); `query` applies to version 2. */
async function twoVersions(prefix: string, query = "?max_batch=16"): Promise<string> {
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

async function adminModel(name: string): Promise<AdminModel> {
  const response = await call(`/admin/models/${name}`, { key: ADMIN });
  expect(response.status).toBe(200);
  return (await response.json()) as AdminModel;
}

/** `force`: the version is the default or the last ready one, which a plain delete refuses. */
async function deleteVersion(name: string, version: string, force = false): Promise<void> {
  const response = await call(`/admin/models/${name}/versions/${version}${force ? "?force=true" : ""}`, { method: "DELETE", key: ADMIN });
  expect(response.status, await response.clone().text()).toBe(200);
  expect(await response.json()).toEqual({ deleted: { name, version } });
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
  it("requests routed to the version before the delete are refused cleanly after it; later ones get 404; the pinned default falls back", async () => {
    const name = await twoVersions("deleted-routed");
    const pinned = await call(`/admin/models/${name}/default`, { method: "PUT", key: ADMIN, body: JSON.stringify({ version: "2" }) });
    expect(pinned.status).toBe(200);
    const warm = await inferJson(name, key, { inputs: v1.inputs });
    expect(((await warm.json()) as { model_version: string }).model_version).toBe("2");

    // Two requests the router has already resolved to version 2 (one by name, one as the
    // default), held at the router until after the delete.
    const body = jsonBody({ inputs: v1.inputs });
    const named = heldPost(`/v2/models/${name}/versions/2/infer`, key, body);
    const byDefault = heldPost(`/v2/models/${name}/infer`, key, body);
    await Promise.all([named.reading, byDefault.reading]);

    await deleteVersion(name, "2", true);
    named.release();
    byDefault.release();
    for (const held of [named, byDefault]) {
      expect(await expectRefusal(await held.response, 503)).toMatch(/bytes are unavailable/);
    }
    await expectOnlyVersionOne(name);
  });

  it("a request queued at the host for the version when it is deleted is answered, with a clean refusal", async () => {
    // Version 2 holds a lone request up to 1 s to fill a batch: it waits in the host's queue.
    const name = await twoVersions("deleted-queued", "?max_batch=16&max_queue_delay_microseconds=1000000");
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
    expect(await expectRefusal(await queued, 503)).toMatch(/bytes are unavailable/);
    await expectOnlyVersionOne(name);
  });

  it("deleting the other version leaves requests in flight for the default untouched, on its warm session", async () => {
    const name = await twoVersions("deleted-other");
    const body = jsonBody({ inputs: v1.inputs });
    const held = Array.from({ length: 3 }, () => heldPost(`/v2/models/${name}/infer`, key, body));
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
    const oldBytes = await fixtureBytes("models/mlp-tiny/1/model.onnx");
    await upload(name, "models/mlp-tiny/1/model.onnx");
    expectOutputsClose(await infer(name), v1.outputs);
    const before = await adminModel(name);
    const old = before.versions[0]!;
    await deleteVersion(name, "1", true);

    // The registry's drop reaches only the hosts it knows of, and a request routed to the old
    // bytes just before the delete can load them again after it: either way a host can hold the
    // old session. Made here by warming it directly, with the old bytes briefly put back.
    await env.MODELS.put(old.r2Key, oldBytes);
    const warmed = await env.MODEL_HOST.getByName(before.hosts[0]!.host).warm(old);
    expect(warmed.ok, JSON.stringify(warmed)).toBe(true);
    await env.MODELS.delete(old.r2Key);

    await upload(name, "fixtures/mlp-tiny-v2.onnx");
    expectOutputsClose(await infer(name), v2.outputs);
  });
});
