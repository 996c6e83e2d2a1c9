/**
 * @module A full ModelHost queue (HOST_MAX_QUEUE_LENGTH), through the real Worker and host: a
 * more important newcomer sheds the least important queued request (503 with Retry-After to the
 * shed one); a newcomer of the same tier whose tenant has nothing queued sheds the latest request
 * of a tenant of that tier holding the most (every filler holds its tier's in-flight limit), so one
 * tenant cannot keep the room from another; and everything admitted is served. The queue is filled
 * by a model that holds requests up to 1 s to fill a batch; the requests are first held at the
 * router (held-request.ts) and let go together, so they reach the host within that second.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { ADMIN, call, createTenant, fixtureBytes, uploadModel } from "./helpers.ts";
import { loadFixture, type FixtureTensor } from "./fixtures.ts";
import { heldPost, jsonBody, type HeldRequest } from "./held-request.ts";
import { expectRefusal, freshName } from "./refusals.ts";

interface HostCounters {
  admitted: number;
  rejectedFull: number;
  shed: number;
}
interface HostView {
  load: { queued: number };
  counters: HostCounters;
}

let row: FixtureTensor;

beforeAll(async () => {
  const [input] = (await loadFixture("mlp-tiny")).inputs;
  row = { ...input!, shape: [1, 16], data: input!.data.slice(0, 16) };
});

async function host(model: string): Promise<HostView> {
  const response = await call(`/admin/models/${model}`, { key: ADMIN });
  expect(response.status).toBe(200);
  return ((await response.json()) as { hosts: HostView[] }).hosts[0]!;
}

/** A deadline well past the batch hold: the hold, not the deadline, decides when the batch runs. */
const LONG_DEADLINE = { [TIMEOUT_HEADER]: "10000" };

describe("a full host queue", () => {
  it("a premium newcomer sheds a standard request; a standard newcomer of another tenant sheds one of the tier's biggest holder; with Retry-After", async () => {
    const queueLength = Number(env.HOST_MAX_QUEUE_LENGTH);
    const perTenant = TIERS.standard.maxInFlight;
    expect(queueLength % perTenant, "the queue is filled by whole tenants").toBe(0);
    const model = freshName("queue-full");
    const upload = await uploadModel(model, "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=1024&max_queue_delay_microseconds=1000000");
    expect(upload.status, await upload.clone().text()).toBe(201);
    const fillers = await Promise.all(Array.from({ length: queueLength / perTenant }, (_, k) => createTenant(freshName(`queue-full-${k}`), "standard")));
    const latecomer = await createTenant(freshName("queue-full-late"), "standard");
    const premium = await createTenant(freshName("queue-full-premium"), "premium");
    const path = `/v2/models/${model}/infer`;
    const body = jsonBody({ inputs: [row] });

    // Fill the queue: every filler request admitted at the router, then let go together.
    const held: HeldRequest[] = fillers.flatMap((key) => Array.from({ length: perTenant }, () => heldPost(path, key, body, LONG_DEADLINE)));
    await Promise.all(held.map((h) => h.reading));
    let answered = 0;
    for (const h of held) void h.response.then(() => answered++);
    for (const h of held) h.release();
    while ((await host(model)).load.queued < queueLength) expect(answered, "answered before the queue was full: the batch hold ended").toBe(0);
    const before = (await host(model)).counters;

    const send = (key: string) => call(path, { method: "POST", key, body: JSON.stringify({ inputs: [row] }), headers: LONG_DEADLINE });
    const [premiumAnswer, latecomerAnswer] = await Promise.all([send(premium), send(latecomer)]);

    const fillerAnswers = await Promise.all(held.map((h) => h.response));
    expect(premiumAnswer.status, await premiumAnswer.clone().text()).toBe(200);
    expect(latecomerAnswer.status, await latecomerAnswer.clone().text()).toBe(200);
    const shed = fillerAnswers.filter((r) => r.status !== 200);
    expect(shed.length, "two queued standard requests were shed").toBe(2);
    const reasons = await Promise.all(shed.map((r) => expectRefusal(r, 503)));
    expect(reasons.sort()).toEqual([
      "shed to make room for another tenant of its tier: its tenant had the most requests queued",
      "shed to make room for higher-priority work",
    ]);

    const after = (await host(model)).counters;
    expect(after.shed - before.shed).toBe(2);
    expect(after.rejectedFull - before.rejectedFull).toBe(0);
    expect(after.admitted - before.admitted, "both newcomers got in").toBe(2);
  });
});
