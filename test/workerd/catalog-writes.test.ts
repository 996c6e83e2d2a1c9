/**
 * @module KV takes one write per second per key, so each admin operation on a model writes its
 * catalog key once, and writes to one key go a second apart. Counted through the registry's own
 * publication path (catalog-publisher.ts), the only code that writes the catalog, against the
 * real KV, registry and Worker.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { KV_WRITE_SPACING_MS } from "../../durable-objects/model-registry/catalog-publisher.ts";
import { catalogKey } from "../../protocol/model-record.ts";
import { ADMIN, call, fixtureBytes, uploadModel } from "./helpers.ts";
import { freshName } from "./refusals.ts";
import { deleteVersion, lifecycleOf, registryStub } from "./lifecycle.ts";

describe("catalog writes", () => {
  it("each upload, pin, load, unload and delete writes the model's key once, a second after the last; a failed upload or a change to nothing writes nothing", async () => {
    const name = freshName("kv-writes");
    const tiny = await fixtureBytes("models/mlp-tiny/1/model.onnx");
    const expectStatus = (status: number) => async (response: Response) => expect(response.status, await response.clone().text()).toBe(status);
    const post = (action: string) => call(`/v2/repository/models/${name}/${action}`, { method: "POST", key: ADMIN });
    const steps: [what: string, run: () => Promise<unknown>, writes: number][] = [
      ["upload version 1", () => uploadModel(name, "1", tiny).then(expectStatus(201)), 1],
      ["upload version 2", async () => uploadModel(name, "2", await fixtureBytes("fixtures/mlp-tiny-v2.onnx")).then(expectStatus(201)), 1],
      ["an upload no host can load", () => uploadModel(name, "3", new TextEncoder().encode("not a model")).then(expectStatus(400)), 0],
      ["an origin upload with no pool", () => uploadModel(name, "4", tiny, "?placement=origin").then(expectStatus(503)), 0],
      ["pin version 1", () => call(`/admin/models/${name}/default`, { method: "PUT", key: ADMIN, body: '{"version": "1"}' }).then(expectStatus(200)), 1],
      ["unload", () => post("unload").then(expectStatus(200)), 1],
      ["unload again: nothing changes", () => post("unload").then(expectStatus(200)), 0],
      ["load", () => post("load").then(expectStatus(200)), 1],
      ["delete version 2", () => deleteVersion(name, "2"), 1],
    ];
    let { writes, lastWriteAt } = (await lifecycleOf(name)).publication;
    expect(writes).toBe(0);
    for (const [what, run, expected] of steps) {
      await run();
      const after = (await lifecycleOf(name)).publication;
      expect(after.writes - writes, `KV writes for: ${what}`).toBe(expected);
      if (expected > 0 && lastWriteAt !== undefined) {
        expect(after.lastWriteAt! - lastWriteAt, `a second after the last write: ${what}`).toBeGreaterThanOrEqual(KV_WRITE_SPACING_MS);
      }
      ({ writes, lastWriteAt } = after);
    }
    expect(await env.CATALOG.get(catalogKey(name), "json")).toEqual(JSON.parse(JSON.stringify(await registryStub().get(name))));
  });
});
