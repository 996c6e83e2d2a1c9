/**
 * The bytes of queued inputs a ModelHost holds are bounded (HOST_QUEUE_BUDGET_MB, 1 MB here): a
 * request that would take them over is refused at once with 503 and Retry-After while smaller
 * ones still get in, and the bytes come back however a request ends (answered, cancelled, timed
 * out, failed), so the host accepts again and the count returns to zero; less important queued
 * work is shed to make room for more important work; a job's payload (a clip's samples) counts
 * the same. Requests are held in the
 * queue by a batch hold of a second (max_queue_delay), long enough to fill it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { HostJobCall, HostModel } from "../../../durable-objects/model-host/contract.ts";
import { sileroVadLoop } from "../../../functions/vad/silero.ts";
import { INFERENCE_HEADER_LENGTH_HEADER, TIMEOUT_HEADER } from "../../../protocol/headers.ts";
import { encodeInferRequest } from "../../../protocol/oip/infer-response.ts";
import { unwrapReply } from "../../../protocol/rpc-reply.ts";
import { ADMIN, call, createTenant, fixtureBytes, uploadModel } from "../helpers.ts";
import { expectRefusal, freshName } from "../refusals.ts";
import { callOf, freshHost, hostNamed, MB, stateOf, storedModel, TINY, until, WIDE, wideRows, type HostStub } from "./stored-models.ts";

const KB = 1024;
const HOLD = { maxBatch: 1024, maxQueueDelayMs: 1000 };

let host: HostStub;
let held: HostModel;

beforeAll(async () => {
  host = freshHost("queued-inputs");
  const model = await storedModel(WIDE, freshName("queued-inputs"), "1", HOLD);
  const { batchAxes } = unwrapReply(await host.inspect(model)); // warm, and able to batch
  held = { ...model, batchAxes };
});

describe("the byte budget of a host's queued inputs", () => {
  it("refuses the request that would go over it, not the smaller ones, and accepts again once the queue drains", async () => {
    expect((await stateOf(host)).queueBudgetBytes).toBe(MB);
    const first = [host.infer(callOf(held, "a", wideRows(400))), host.infer(callOf(held, "b", wideRows(400)))];
    await until(host, "a and b queued", (s) => s.load.queued === 2);
    expect((await stateOf(host)).queuedInputBytes).toBe(800 * KB);

    const over = await host.infer(callOf(held, "c", wideRows(300)));
    expect(over.ok).toBe(false);
    if (!over.ok) {
      expect(over.error.status).toBe(503);
      expect(over.error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(over.error.message).toBe("the model host holds too many queued inputs: 0.78 MB waiting, 0.29 MB more would pass its 1.0 MB");
    }
    const smaller = host.infer(callOf(held, "d", wideRows(200)));
    await until(host, "d queued", (s) => s.load.queued === 3);
    expect((await stateOf(host)).queuedInputBytes).toBe(1000 * KB);

    for (const reply of await Promise.all([...first, smaller])) expect(reply.ok, JSON.stringify(!reply.ok && reply.error)).toBe(true);
    expect((await stateOf(host)).queuedInputBytes).toBe(0);
    const again = await host.infer(callOf(held, "c", wideRows(300)));
    expect(again.ok, "accepted once the earlier requests were answered").toBe(true);
    expect((await stateOf(host)).queuedInputBytes).toBe(0);
  });

  it("gives the bytes back when a request is cancelled, times out or fails", async () => {
    // Held first, so the rest queue behind its hold.
    const head = host.infer(callOf(held, "head", wideRows(100)));
    const cancelled = host.infer(callOf(held, "cancelled", wideRows(100)));
    // Another version, so it cannot join the held batch, and the lowest priority, so it waits
    // behind the hold: its own timer answers it 504.
    const expires = host.infer(callOf({ ...held, version: "1-other" }, "expires", wideRows(100), { priority: 3, deadline: Date.now() + 500 }));
    // A row of 255 columns: admitted (the batch size agrees), refused by onnxruntime when it runs.
    const malformed = host.infer(callOf(held, "malformed", [{ ...wideRows(1)[0]!, shape: [1, 255], data: new Float32Array(255) }]));
    await until(host, "four queued", (s) => s.load.queued === 4);
    expect((await stateOf(host)).queuedInputBytes).toBe(300 * KB + 255 * 4);
    expect(await host.cancel("cancelled")).toBe(true);

    const [headReply, cancelledReply, expiredReply, malformedReply] = await Promise.all([head, cancelled, expires, malformed]);
    expect(headReply.ok).toBe(true);
    expect(!cancelledReply.ok && cancelledReply.error.status).toBe(499);
    expect(!expiredReply.ok && expiredReply.error.status).toBe(504);
    expect(!malformedReply.ok && malformedReply.error.status).toBe(400);
    expect((await stateOf(host)).queuedInputBytes, "nothing leaked").toBe(0);
  });

  it("less important queued work makes room for a more important request: the free tenant's request is shed, not the premium one refused", async () => {
    const free = { priority: 3, tenant: "free-tenant" };
    const queued = [host.infer(callOf(held, "free-1", wideRows(400), free)), host.infer(callOf(held, "free-2", wideRows(400), free))];
    await until(host, "both free requests queued", (s) => s.load.queued === 2);
    const premium = host.infer(callOf(held, "premium", wideRows(300), { priority: 1, tenant: "premium-tenant" }));
    const premiumReply = await premium;
    expect(premiumReply.ok, JSON.stringify(!premiumReply.ok && premiumReply.error)).toBe(true);
    const refusals = (await Promise.all(queued)).flatMap((reply) => (reply.ok ? [] : [[reply.error.status, reply.error.message]]));
    expect(refusals).toEqual([[503, "shed to make room for higher-priority work"]]);
    expect((await stateOf(host)).queuedInputBytes).toBe(0);
  });

  it("less important work is not shed when shedding all of it could not make room: the newcomer is refused and nothing else is", async () => {
    const free = host.infer(callOf(held, "free-small", wideRows(200), { priority: 3, tenant: "free-tenant" }));
    const premium = host.infer(callOf(held, "premium-big", wideRows(800)));
    await until(host, "both queued", (s) => s.queuedInputBytes === 1000 * KB);
    // The same tenant's 800 KB stays whatever is shed: 300 KB more of its own cannot fit in 1 MB.
    const reply = await host.infer(callOf(held, "premium-more", wideRows(300)));
    expect(!reply.ok && [reply.error.status, reply.error.reason]).toEqual([503, "input_budget"]);
    for (const kept of await Promise.all([free, premium])) expect(kept.ok, "nothing was shed for it").toBe(true);
    expect((await stateOf(host)).queuedInputBytes).toBe(0);
  });

  it("within a tier, a tenant holding more than half the budget gives up its newest queued request for another tenant; at half or less it keeps them", async () => {
    const hog = { tenant: "hog-tenant" };
    const queued = [1, 2, 3, 4].map((k) => host.infer(callOf(held, `hog-${k}`, wideRows(175), hog)));
    await until(host, "the hog's four requests queued", (s) => s.queuedInputBytes === 700 * KB);
    const other = await host.infer(callOf(held, "other", wideRows(400), { tenant: "other-tenant" }));
    expect(other.ok, JSON.stringify(!other.ok && other.error)).toBe(true);
    const replies = await Promise.all(queued);
    const shed = replies.flatMap((reply, k) => (reply.ok ? [] : [[k + 1, reply.error.status, reply.error.message]]));
    expect(shed).toEqual([[4, 503, "shed to make room for another tenant of its tier: its tenant held over half of the host's room for inputs"]]);
    expect((await stateOf(host)).queuedInputBytes).toBe(0);

    // 500 KB is not more than half of 1 MB: the newcomer is refused and the holder keeps its requests.
    const kept = [1, 2].map((k) => host.infer(callOf(held, `kept-${k}`, wideRows(250), hog)));
    await until(host, "the holder's two requests queued", (s) => s.queuedInputBytes === 500 * KB);
    const refused = await host.infer(callOf(held, "refused", wideRows(600), { tenant: "other-tenant" }));
    expect(!refused.ok && [refused.error.status, refused.error.reason]).toEqual([503, "input_budget"]);
    for (const reply of await Promise.all(kept)) expect(reply.ok).toBe(true);
  });

  it("two newcomers at once do not shed for the same room: the second sees the first's shed as room taken", async () => {
    const hog = { tenant: "hog-tenant" };
    const queued = [1, 2, 3, 4, 5, 6, 7].map((k) => host.infer(callOf(held, `pair-hog-${k}`, wideRows(100), hog)));
    await until(host, "the holder's seven requests queued", (s) => s.queuedInputBytes === 700 * KB);
    const [first, second] = await Promise.all([
      host.infer(callOf(held, "pair-first", wideRows(400), { tenant: "first-tenant" })),
      host.infer(callOf(held, "pair-second", wideRows(400), { tenant: "second-tenant" })),
    ]);
    expect(first.ok, JSON.stringify(!first.ok && first.error)).toBe(true);
    // 600 KB of the holder's is left, 88 KB over half: not the 376 KB the second needs, so nothing more is shed.
    expect(!second.ok && [second.error.status, second.error.reason]).toEqual([503, "input_budget"]);
    const shed = (await Promise.all(queued)).filter((reply) => !reply.ok);
    expect(shed).toHaveLength(1);
    expect((await stateOf(host)).queuedInputBytes).toBe(0);
  });

  it("a request whose inputs alone are over the budget is told so with 413, not asked to retry, and sheds nothing", async () => {
    const free = host.infer(callOf(held, "free-kept", wideRows(400), { priority: 3, tenant: "free-tenant" }));
    await until(host, "the free request queued", (s) => s.load.queued === 1);
    const reply = await host.infer(callOf(held, "huge", wideRows(1025)));
    expect(!reply.ok && reply.error.status).toBe(413);
    expect((await free).ok, "the free request was not shed for a request refused anyway").toBe(true);
    expect((await stateOf(host)).queuedInputBytes).toBe(0);
  });
});

describe("a job's payload in the same budget", () => {
  it("a clip's samples count like a request's tensors: over the budget 413, beside queued work 503, and it sheds less important work", async () => {
    const jobs = freshHost("queued-jobs");
    const tiny = await storedModel(TINY, freshName("queued-jobs-tiny"), "1", { maxBatch: 16_384, maxQueueDelayMs: 1000 });
    const { batchAxes } = unwrapReply(await jobs.inspect(tiny));
    const silero = await storedModel("models/silero-vad/1/model.onnx", "silero-vad", freshName("jobs"));
    const free = { priority: 3, tenant: "free-tenant" };
    const jobOf = (requestId: string, samples: number, settings: Partial<HostJobCall> = {}): HostJobCall => ({
      ...callOf(silero, requestId, []),
      loop: sileroVadLoop.name,
      payload: { samples: Float32Array.from({ length: samples }, (_, k) => Math.sin(k / 5) * 0.1) },
      ...settings,
    });
    // 12,800 rows of mlp-tiny's 16 floats: 800 KB held in the queue by the batch hold.
    const rows = [{ name: "input", datatype: "FP32" as const, shape: [12_800, 16], data: new Float32Array(12_800 * 16) }];
    const queued = jobs.infer(callOf({ ...tiny, batchAxes }, "free-rows", rows, free));
    await until(jobs, "the free rows queued", (state) => state.queuedInputBytes === 800 * KB);

    const tooBig = await jobs.job(jobOf("clip-too-big", 300_000));
    expect(!tooBig.ok && [tooBig.error.status, tooBig.error.message]).toEqual([
      413,
      "the request's inputs (1.1 MB) are more than a model host can hold (1.0 MB)",
    ]);
    const freeClip = await jobs.job(jobOf("free-clip", 100_000, free));
    expect(!freeClip.ok && freeClip.error.status).toBe(503);
    expect(!freeClip.ok && freeClip.error.message).toMatch(/^the model host holds too many queued inputs: 0\.78 MB waiting, 0\.38 MB more/);

    // Answered (unwrapReply throws the refusal otherwise), with one probability per Silero window.
    const premiumClip = unwrapReply(await jobs.job(jobOf("premium-clip", 100_000))) as { value: Float32Array };
    expect(premiumClip.value.length).toBe(sileroVadLoop.plan({ samples: new Float32Array(100_000) }).runs);
    const shed = await queued;
    expect(!shed.ok && [shed.error.status, shed.error.message]).toEqual([503, "shed to make room for higher-priority work"]);
    expect((await stateOf(jobs)).queuedInputBytes).toBe(0);
  });
});

describe("through the router", () => {
  it("the tenant gets the 503 with Retry-After and the message", async () => {
    const name = freshName("queued-inputs-routed");
    const upload = await uploadModel(name, "1", await fixtureBytes(WIDE), "?max_batch=1024&max_queue_delay_microseconds=1000000");
    expect(upload.status, await upload.clone().text()).toBe(201);
    const key = await createTenant(freshName("queued-inputs"), "premium");
    const send = (rows: number) => {
      const [input] = wideRows(rows);
      const encoded = encodeInferRequest({ inputs: [input!], binaryByDefault: true }, { binary: true });
      const headers = { [INFERENCE_HEADER_LENGTH_HEADER]: String(encoded.headerLength), [TIMEOUT_HEADER]: "10000" };
      return call(`/v2/models/${name}/infer`, { method: "POST", key, body: encoded.body, headers });
    };
    const queued = [send(500), send(500)];
    const hostName = ((await (await call(`/admin/models/${name}`, { key: ADMIN })).json()) as { hosts: { host: string }[] }).hosts[0]!.host;
    const routedHost = hostNamed(hostName);
    await until(routedHost, "both queued", (s) => s.queuedInputBytes === 1000 * KB);

    expect(await expectRefusal(await send(100), 503)).toMatch(/^the model host holds too many queued inputs/);
    for (const response of await Promise.all(queued)) {
      expect(response.status).toBe(200);
      await response.arrayBuffer();
    }
  });
});
