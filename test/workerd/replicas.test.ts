/**
 * @module Replicas through the real router and Durable Objects: a model whose host stays
 * backlogged gets a second ModelHost replica (warmed before it takes traffic), and once every
 * replica has been idle for REPLICA_SCALE_DOWN_AFTER_MS (1.5 s in these tests) the set shrinks
 * back to one. Answers say which replica ran them (`x-served-by: edge:<region>/<replica>`), and
 * `GET /admin/models/{m}` shows the replica sets as the answering isolate sees them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN, call, createTenant, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";

const MODEL = "mlp-narrow-replicas";
/** 96 rows of the 32-1024-1024-1024-32 MLP: tens of milliseconds of wasm per run. */
const ROWS = 96;
const body = { inputs: [{ name: "input", datatype: "FP32", shape: [ROWS, 32], data: Array.from({ length: ROWS * 32 }, (_, k) => Math.sin(k)) }] };
let key: string;

beforeAll(async () => {
  // max_batch = the rows of one request: every request is a run of its own, so a few concurrent
  // clients keep a backlog.
  const upload = await uploadModel(MODEL, "1", await fixtureBytes("fixtures/mlp-narrow.onnx"), `?max_batch=${ROWS}&min_replicas=1&max_replicas=2`);
  expect(upload.status, await upload.clone().text()).toBe(201);
  key = await createTenant("replicas-flood", "premium");
});

/** Active replicas per region, as this isolate's router sees them. */
async function activeReplicas(): Promise<number[]> {
  const model = (await (await call(`/admin/models/${MODEL}`, { key: ADMIN })).json()) as { replicas: Record<string, { active: number }> };
  return Object.values(model.replicas).map((set) => set.active);
}

/** The replica an answer names, or undefined for a refusal. */
async function servedBy(): Promise<number | undefined> {
  const response = await inferJson(MODEL, key, body);
  const replica = /^edge:[^/]+\/(\d+)$/.exec(response.headers.get("x-served-by") ?? "")?.[1];
  await response.arrayBuffer();
  return response.status === 200 && replica !== undefined ? Number(replica) : undefined;
}

describe("replicas", () => {
  it("a backlogged model grows to a second replica, which shrinks away once all are idle", async () => {
    expect(await servedBy()).toBe(0);
    expect(await activeReplicas()).toEqual([1]);

    // Growth: eight clients in a closed loop keep the host's reported backlog over the 50 ms that
    // counts as pressure; after a second of it the router warms replica 1 and sends it traffic.
    const seen = new Set<number>();
    const stopAt = Date.now() + 30_000;
    const client = async () => {
      while (!seen.has(1) && Date.now() < stopAt) {
        const replica = await servedBy();
        if (replica !== undefined) seen.add(replica);
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    expect([...seen].sort()).toEqual([0, 1]);
    expect(await activeReplicas()).toEqual([2]);

    // Shrink: one request at a time leaves every replica idle; 1.5 s of that and the set drops to
    // one replica, after which every answer comes from replica 0.
    const shrinkBy = Date.now() + 20_000;
    while ((await activeReplicas())[0] !== 1 && Date.now() < shrinkBy) await servedBy();
    expect(await activeReplicas()).toEqual([1]);
    for (let k = 0; k < 5; k++) expect(await servedBy()).toBe(0);
  });
});
