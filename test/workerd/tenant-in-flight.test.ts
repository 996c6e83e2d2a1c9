/**
 * @module The per-tenant in-flight cap (config/tiers.ts `maxInFlight`), through the real Worker:
 * a tenant holding its tier's cap of requests in flight is refused with 429 and Retry-After,
 * another tenant of the same tier is served meanwhile, and the slots come back when the held
 * requests finish, or at once when their clients go away. Requests are held in flight by holding back their bodies (held-request.ts),
 * so nothing depends on timing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import { createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { loadFixture, type Fixture } from "./fixtures.ts";
import { heldPost, jsonBody, type HeldRequest } from "./held-request.ts";
import { expectRefusal, freshName } from "./refusals.ts";

let model: string;
let mlp: Fixture;

beforeAll(async () => {
  model = freshName("inflight-mlp");
  const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=64");
  expect(upload.status, await upload.clone().text()).toBe(201);
  mlp = await loadFixture("mlp-tiny");
});

/** Opens `count` requests for `key` and waits until the router has admitted each of them. */
async function holdInFlight(key: string, count: number): Promise<HeldRequest[]> {
  const body = jsonBody({ inputs: mlp.inputs });
  const held = Array.from({ length: count }, () => heldPost(`/v2/models/${model}/infer`, key, body));
  await Promise.all(held.map((h) => h.reading));
  return held;
}

describe("per-tenant in-flight cap", () => {
  it("a free tenant with its cap in flight gets 429 with Retry-After; another free tenant is served; the slots come back", async () => {
    const cap = TIERS.free.maxInFlight;
    const busy = await createTenant(freshName("inflight-busy"), "free");
    const other = await createTenant(freshName("inflight-other"), "free");
    const held = await holdInFlight(busy, cap); // every one of them admitted: the cap is not lower

    const over = await inferJson(model, busy, { inputs: mlp.inputs });
    expect(await expectRefusal(over, 429)).toMatch(new RegExp(`in flight.*limit ${cap}`));

    const neighbour = await inferJson(model, other, { inputs: mlp.inputs });
    expect(neighbour.status, await neighbour.clone().text()).toBe(200);

    for (const h of held) h.release();
    const statuses = await Promise.all(held.map(async (h) => (await h.response).status));
    expect(statuses).toEqual(Array(cap).fill(200));

    // Every slot was given back: the tenant may hold its whole cap again, and no more.
    const again = await holdInFlight(busy, cap);
    expect((await inferJson(model, busy, { inputs: mlp.inputs })).status).toBe(429);
    for (const h of again) h.release();
    expect(await Promise.all(again.map(async (h) => (await h.response).status))).toEqual(Array(cap).fill(200));
  });

  it("a refused request holds no slot: after refusals the tenant still gets exactly its cap", async () => {
    const cap = TIERS.free.maxInFlight;
    const tenant = await createTenant(freshName("inflight-refused"), "free");
    const held = await holdInFlight(tenant, cap);
    for (let k = 0; k < 3; k++) await expectRefusal(await inferJson(model, tenant, { inputs: mlp.inputs }), 429);
    // Release one: exactly one new request fits, the next is refused again.
    held[0]!.release();
    expect((await held[0]!.response).status).toBe(200);
    const [refill] = await holdInFlight(tenant, 1);
    await expectRefusal(await inferJson(model, tenant, { inputs: mlp.inputs }), 429);
    for (const h of [...held.slice(1), refill!]) h.release();
    expect(await Promise.all([...held.slice(1), refill!].map(async (h) => (await h.response).status))).toEqual(Array(cap).fill(200));
  });

  it("a client that goes away gives its slot back at once, before its request unwinds", async () => {
    const cap = TIERS.free.maxInFlight;
    const tenant = await createTenant(freshName("inflight-gone"), "free");
    const body = jsonBody({ inputs: mlp.inputs });
    const controllers = Array.from({ length: cap }, () => new AbortController());
    const held = controllers.map((controller) => heldPost(`/v2/models/${model}/infer`, tenant, body, {}, controller.signal));
    await Promise.all(held.map((h) => h.reading));
    await expectRefusal(await inferJson(model, tenant, { inputs: mlp.inputs }), 429);
    for (const controller of controllers) controller.abort();
    // The held bodies are never sent: only the aborts can have given the slots back.
    const served = await inferJson(model, tenant, { inputs: mlp.inputs });
    expect(served.status, await served.text()).toBe(200);
    for (const h of held) {
      h.release();
      await h.response.catch(() => undefined);
    }
  });
});
