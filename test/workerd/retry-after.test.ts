/**
 * @module Retry-After on the inference path's refusals, through the real Worker and ModelHost:
 * each 429 and 503 the platform gives carries a Retry-After of a positive whole number of
 * seconds, and each test makes its refusal happen for the reason it names (checked by the error
 * message). Covered here: the tenant's rate, the host refusing work it cannot finish in time,
 * the router refusing on the host's last report, an origin-placed model with no origin pool, and
 * an unloaded model. Elsewhere: the in-flight cap (tenant-in-flight.test.ts), a full queue and
 * shedding (host-queue-full.test.ts), a deleted version's bytes (version-deletion.test.ts).
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import { catalogKey, type ModelRecord } from "../../protocol/model-record.ts";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { expectRefusal, freshName } from "./refusals.ts";
import { slowModel } from "./slow-model.ts";

let mlp: Fixture;
let mlpBytes: Uint8Array;

beforeAll(async () => {
  mlp = await loadFixture("mlp-tiny");
  mlpBytes = await fixtureBytes("models/mlp-tiny/1/model.onnx");
});

async function freshMlp(prefix: string, query = "?max_batch=64"): Promise<string> {
  const name = freshName(prefix);
  const upload = await uploadModel(name, "1", mlpBytes, query);
  expect(upload.status, await upload.clone().text()).toBe(201);
  return name;
}

describe("Retry-After on every refusal", () => {
  it("429, the tenant's rate: every refusal carries Retry-After", async () => {
    const model = await freshMlp("ra-rate");
    const key = await createTenant(freshName("ra-rate"), "free");
    const tier = TIERS.free;
    // Waves no wider than the in-flight cap, so only the rate can refuse; the burst runs out
    // after tier.burst requests, far sooner than the rate refills it.
    const refusals: Response[] = [];
    for (let wave = 0; wave * tier.maxInFlight < 4 * tier.burst && refusals.length === 0; wave++) {
      const answers = await Promise.all(Array.from({ length: tier.maxInFlight }, () => inferJson(model, key, { inputs: mlp.inputs })));
      for (const answer of answers) {
        if (answer.status === 429) refusals.push(answer);
        else expect(answer.status, await answer.text()).toBe(200);
      }
    }
    expect(refusals.length, "the burst ran out").toBeGreaterThan(0);
    for (const refusal of refusals) expect(await expectRefusal(refusal, 429)).toMatch(/rate limit/);
  });

  it("503, the host cannot finish the work before its deadline: refused at once, with Retry-After", async () => {
    const key = await createTenant(freshName("ra-deadline"), "premium");
    const model = await slowModel("ra-deadline", key);
    // Half of the host's own prediction of the run: it must refuse on arrival.
    const response = await model.infer(key, Math.max(1, Math.floor(model.runMs / 2)));
    expect(await expectRefusal(response, 503)).toMatch(/cannot finish before the deadline/);
  });

  it("503, refused at the router on the host's last report: with Retry-After, as are the host's own refusals", async () => {
    const premium = await createTenant(freshName("ra-early-premium"), "premium");
    const free = await createTenant(freshName("ra-early-free"), "free");
    const model = await slowModel("ra-early", premium);
    // About a second of premium work (the premium tier's longest queue wait), more than the
    // free tier may wait; its first answer carries the host's load to the router.
    const backlogSize = Math.ceil(TIERS.premium.maxQueueWaitMs / model.runMs) + 1;
    const backlog = Array.from({ length: backlogSize }, () => model.infer(premium, TIERS.premium.maxDeadlineMs));
    await Promise.any(backlog.map(async (answer) => ((await answer).status === 200 ? undefined : Promise.reject(new Error("refused")))));

    const refused = await model.inferOneRow(free);
    expect(await expectRefusal(refused, 503)).toMatch(/queued ahead of free requests/);
    for (const answer of await Promise.all(backlog)) {
      if (answer.status === 200) await answer.arrayBuffer();
      else expect(await expectRefusal(answer, 503)).toMatch(/cannot finish before the deadline/);
    }
  });

  it("503, an origin-placed model with no origin configured: at once, with Retry-After", async () => {
    expect(JSON.parse(env.ORIGINS), "these tests run without an origin pool").toEqual([]);
    const key = await createTenant(freshName("ra-origin"), "premium");
    // Uploading one is refused the same way: there is no pool to load it.
    const refusedUpload = await uploadModel(freshName("ra-origin-upload"), "1", mlpBytes, "?placement=origin");
    expect(await expectRefusal(refusedUpload, 503)).toMatch(/origin pool/);

    // A model the catalog lists on the pool (registered while a pool was configured).
    const name = freshName("ra-origin");
    const record: ModelRecord = {
      name,
      defaultVersion: "1",
      pinnedVersion: undefined,
      versions: [
        {
          name,
          version: "1",
          r2Key: `models/${name}/1/absent.onnx`,
          sha256: "0".repeat(64),
          bytes: mlpBytes.byteLength,
          inputs: [{ name: "input", datatype: "FP32", shape: [-1, 16] }],
          outputs: [{ name: "output", datatype: "FP32", shape: [-1, 4] }],
          placement: "origin",
          maxBatch: 64,
          maxQueueDelayMs: 0,
          batchAxes: undefined,
          minReplicas: 1,
          maxReplicas: 1,
          state: "ready",
          createdAt: Date.now(),
        },
      ],
    };
    await env.CATALOG.put(catalogKey(name), JSON.stringify(record));
    const response = await inferJson(name, key, { inputs: mlp.inputs });
    expect(await expectRefusal(response, 503)).toMatch(/no origin is configured/);
  });

  it("503, an unloaded model: with Retry-After, until it is loaded again", async () => {
    const model = await freshMlp("ra-unloaded");
    const key = await createTenant(freshName("ra-unloaded"), "premium");
    expect((await call(`/v2/repository/models/${model}/unload`, { method: "POST", key: ADMIN })).status).toBe(200);
    expect(await expectRefusal(await inferJson(model, key, { inputs: mlp.inputs }), 503)).toMatch(/unloaded/);
    expect(await expectRefusal(await inferJson(model, key, { inputs: mlp.inputs }, "1"), 503)).toMatch(/unloaded/);
    expect((await call(`/v2/repository/models/${model}/load`, { method: "POST", key: ADMIN })).status).toBe(200);
    expect((await inferJson(model, key, { inputs: mlp.inputs })).status).toBe(200);
  });
});
