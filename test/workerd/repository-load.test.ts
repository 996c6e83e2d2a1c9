/**
 * @module The OIP repository load (`POST /v2/repository/models/{m}/load`) never marks a version
 * that is still being added as ready. An `origin` upload records its version as `warming` while
 * the origins fetch and load the bytes (the signature is not known until the first answers), and
 * an `auto` or `edge` one while the hosts warm it: that version is LOADING in the index, load and
 * unload leave it to its upload, and a model with nothing else answers load with a 503.
 * Through the real Worker and registry; the version being added is put in the registry as the
 * upload does (addPendingVersion), since the test Worker has no origins to keep it loading.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { ModelVersionRecord, Placement } from "../../protocol/model-record.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { expectRefusal, freshName } from "./refusals.ts";
import { catalogWriteSlotFree, registryStub } from "./lifecycle.ts";

let key: string;
let v1: Fixture;

beforeAll(async () => {
  key = await createTenant(freshName("repository-load"), "premium");
  v1 = await loadFixture("mlp-tiny");
});

/** What an upload of `placement` has recorded while its bytes are still being loaded. */
async function versionBeingAdded(name: string, version: string, placement: Placement): Promise<void> {
  const reply = await registryStub().addPendingVersion({
    name,
    version,
    r2Key: `models/${name}/${version}/being-added.onnx`,
    sha256: "0".repeat(64),
    bytes: 1024,
    inputs: [],
    outputs: [],
    placement,
    maxBatch: 16,
    maxQueueDelayMs: 0,
    batchAxes: undefined,
    minReplicas: 1,
    maxReplicas: 1,
  });
  expect(reply.ok, JSON.stringify(reply)).toBe(true);
}

const repository = (path: string) => call(`/v2/repository/${path}`, { method: "POST", key: ADMIN });

async function states(name: string): Promise<[string, ModelVersionRecord["state"]][]> {
  return (await registryStub().get(name))!.versions.map((v) => [v.version, v.state]);
}

async function indexStates(name: string): Promise<{ version: string; state: string }[]> {
  const index = (await (await repository("index")).json()) as { name: string; version: string; state: string }[];
  return index.filter((entry) => entry.name === name).map(({ version, state }) => ({ version, state }));
}

describe("repository load while a version is being added", () => {
  it("an origin model whose origins are still loading it: LOADING, and load answers 503 with Retry-After without making it ready", async () => {
    const name = freshName("loading-origin");
    await versionBeingAdded(name, "1", "origin");
    expect(await indexStates(name)).toEqual([{ version: "1", state: "LOADING" }]);

    expect(await expectRefusal(await repository(`models/${name}/load`), 503)).toMatch(/still being loaded/);
    expect(await states(name)).toEqual([["1", "warming"]]);
    expect(await indexStates(name)).toEqual([{ version: "1", state: "LOADING" }]);
  });

  it("an auto model with a ready version and one being added: unload and load move only the ready one", async () => {
    const name = freshName("loading-auto");
    const upload = await uploadModel(name, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?placement=auto&max_batch=16");
    expect(upload.status, await upload.clone().text()).toBe(201);
    await versionBeingAdded(name, "2", "auto");

    expect((await repository(`models/${name}/unload`)).status).toBe(200);
    expect(await states(name)).toEqual([
      ["1", "unloaded"],
      ["2", "warming"],
    ]);

    const load = await repository(`models/${name}/load`);
    expect(load.status, await load.clone().text()).toBe(200);
    expect(await load.json()).toEqual({
      name,
      loaded: true,
      versions: [
        { version: "1", state: "READY" },
        { version: "2", state: "LOADING" },
      ],
    });
    expect(await states(name)).toEqual([
      ["1", "ready"],
      ["2", "warming"],
    ]);
    expect((await registryStub().get(name))!.defaultVersion).toBe("1");
    const answer = await inferJson(name, key, { inputs: v1.inputs });
    expect(answer.status, await answer.clone().text()).toBe(200);
    expect(((await answer.json()) as { model_version: string }).model_version).toBe("1");
  });
});

describe("repository load puts the model in memory", () => {
  it("the region's first replica warms the default version before load answers, so the first request pays no session load", async () => {
    const name = freshName("load-warms");
    const upload = await uploadModel(name, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=16");
    expect(upload.status, await upload.clone().text()).toBe(201);
    // As after a restart: the host holds no session for it.
    const host = env.MODEL_HOST.getByName(`enam:${name}:0`);
    await host.drop(name, "1");
    expect((await host.state()).sessions.filter((s) => s.model === name)).toEqual([]);

    expect((await repository(`models/${name}/load`)).status).toBe(200);
    expect((await host.state()).sessions.filter((s) => s.model === name).map((s) => [s.version, s.ready])).toEqual([["1", true]]);
    const answer = await inferJson(name, key, { inputs: v1.inputs });
    expect(answer.status, await answer.clone().text()).toBe(200);
    expect(answer.headers.get("server-timing")).not.toMatch(/\bload;dur/);
  });

  it("unload frees the session on the host that recorded itself, and a host row no id can be made of fails only its own call", async () => {
    const name = freshName("unload-frees");
    const upload = await uploadModel(name, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=16");
    expect(upload.status, await upload.clone().text()).toBe(201);
    const host = env.MODEL_HOST.getByName(`enam:${name}:0`);
    expect((await host.state()).sessions.filter((s) => s.model === name)).toHaveLength(1);
    // A 64-hex row that is not an id of this namespace: idFromString throws for it.
    await registryStub().recordHost(name, "f".repeat(64));
    await catalogWriteSlotFree(name);
    expect((await repository(`models/${name}/unload`)).status).toBe(200);
    expect(
      (await host.state()).sessions.filter((s) => s.model === name),
      "the unload freed it",
    ).toEqual([]);
    await catalogWriteSlotFree(name);
    expect((await repository(`models/${name}/load`)).status).toBe(200);
    expect((await host.state()).sessions.filter((s) => s.model === name)).toHaveLength(1);
  });
});
