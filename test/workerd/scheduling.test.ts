/**
 * @module Scheduling through the real Worker and ModelHost: rate limits (429), batched runs equal to
 * separate runs for mlp-tiny and silero-vad, deadlines (504 on time), early refusal and a full
 * queue (503 with Retry-After), refusal at the router, and cancelled work dropped from the queue
 * (by the host's cancel call, and by a client abort reaching the router's fetch handler).
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import type { ModelRecord } from "../../protocol/model-record.ts";
import worker from "../../router/index.ts";
import { ADMIN, call, createTenant, ensureDemoModel, fixtureBytes, inferJson, uploadModel } from "./helpers.ts";
import { expectOutputsClose, loadFixture, type Fixture, type FixtureTensor } from "./fixtures.ts";

interface InferBody {
  outputs: FixtureTensor[];
}

let premium: string;
let mlp: Fixture;

beforeAll(async () => {
  await ensureDemoModel("mlp-tiny");
  premium = await createTenant("sched-premium", "premium");
  mlp = await loadFixture("mlp-tiny");
  // Copies of the demo models that hold a request up to 50 ms to fill a batch.
  for (const [name, path] of [
    ["mlp-batched", "models/mlp-tiny/1/model.onnx"],
    ["vad-batched", "models/silero-vad/1/model.onnx"],
  ] as const) {
    const response = await uploadModel(name, "1", await fixtureBytes(path), "?max_batch=16&max_queue_delay_microseconds=50000");
    expect(response.status, await response.text()).toBe(201);
  }
});

/** `rows` rows for mlp-wide: its run time grows with the rows. */
function wideInput(rows: number) {
  return { inputs: [{ name: "input", datatype: "FP32", shape: [rows, 256], data: Array.from({ length: rows * 256 }, (_, k) => Math.sin(k)) }] };
}

const timingOf = (response: Response, name: string) => response.headers.get("server-timing")?.match(new RegExp(`${name};desc="([^"]+)"`))?.[1];

describe("rate limits", () => {
  it("a free tenant over its burst gets 429 with Retry-After on every refusal; another free tenant and other tiers are unaffected", async () => {
    const limited = await createTenant("sched-free", "free");
    const neighbour = await createTenant("sched-free-neighbour", "free");
    const { burst, ratePerSecond } = TIERS.free;
    const send = (key: string) => inferJson("mlp-tiny", key, { inputs: mlp.inputs });
    // One after another until three refusals: the bucket refills at the tier's rate meanwhile, so
    // how many pass after the burst depends on this machine's speed; the burst itself does not.
    const statuses: number[] = [];
    while (statuses.filter((s) => s === 429).length < 3) {
      expect(statuses.length, `never limited: ${statuses.join(",")}`).toBeLessThan(10 * burst);
      const response = await send(limited);
      statuses.push(response.status);
      if (response.status !== 429) {
        expect(response.status, await response.text()).toBe(200);
        continue;
      }
      expect(Number(response.headers.get("retry-after")), `refusal ${statuses.length}`).toBeGreaterThanOrEqual(1);
      expect(((await response.json()) as { error: string }).error).toBe(`rate limit of ${ratePerSecond} requests/s exceeded`);
    }
    expect(statuses.slice(0, burst)).toEqual(Array(burst).fill(200));
    // Right after the last refusal, a tenant of the same tier has a bucket of its own.
    for (let k = 0; k < 5; k++) expect((await send(neighbour)).status, `neighbour's request ${k + 1}`).toBe(200);
    expect((await send(premium)).status).toBe(200);
  });
});

describe("dynamic batching", () => {
  it("mlp-tiny: rows sent as separate concurrent requests are batched, with the outputs of one run", async () => {
    const [input] = mlp.inputs;
    const [output] = mlp.outputs;
    const responses = await Promise.all(
      [0, 1, 2].map((row) => inferJson("mlp-batched", premium, { inputs: [{ ...input, shape: [1, 16], data: input!.data.slice(row * 16, row * 16 + 16) }] })),
    );
    const batchSizes = responses.map((r) => Number(timingOf(r, "batch")));
    expect(Math.max(...batchSizes)).toBeGreaterThan(1);
    for (const [row, response] of responses.entries()) {
      expect(response.status).toBe(200);
      const body = (await response.json()) as InferBody;
      expectOutputsClose(body.outputs, [{ ...output!, shape: [1, 4], data: output!.data.slice(row * 4, row * 4 + 4) }]);
    }
  });

  it("silero-vad: speech and silence frames batched along the state's batch axis equal separate runs", async () => {
    const cases = await Promise.all(["silero-speech", "silero-silence", "silero-speech", "silero-silence"].map(loadFixture));
    const responses = await Promise.all(cases.map((fixture) => inferJson("vad-batched", premium, { inputs: fixture.inputs })));
    expect(Math.max(...responses.map((r) => Number(timingOf(r, "batch"))))).toBeGreaterThan(1);
    for (const [k, response] of responses.entries()) {
      expect(response.status).toBe(200);
      expectOutputsClose(((await response.json()) as InferBody).outputs, cases[k]!.outputs);
    }
  });
});

describe("deadlines and admission", () => {
  it("a request whose deadline passes in the queue gets 504 from its timer, at the deadline", async () => {
    // The host holds a premium request up to 300 ms to fill a batch; a free request for another
    // version (so it cannot join that batch, and strict priority keeps it behind) has a 60 ms
    // deadline, and its own timer must answer it then, not when the premium batch has run.
    const record = (await (await call("/admin/models/mlp-batched", { key: ADMIN })).json()) as ModelRecord;
    const held = { ...record.versions[0]!, maxQueueDelayMs: 300 };
    const other = { ...held, version: "1-copy" };
    const host = env.MODEL_HOST.getByName("test:expiry:0");
    const inputs = mlp.inputs.map((t) => ({ name: t.name, datatype: "FP32" as const, shape: t.shape, data: Float32Array.from(t.data) }));
    const base = { inputs, outputNames: ["output"], tenant: "t", maxQueueWaitMs: 10_000 };
    const started = Date.now();
    const first = host.infer({ ...base, model: held, priority: 1, requestId: "held", deadline: started + 10_000 });
    let firstAnswered = false;
    void first.then(() => (firstAnswered = true));
    const late = await host.infer({ ...base, model: other, priority: 3, requestId: "late", deadline: Date.now() + 60 });
    const lateAfter = Date.now() - started;
    expect(late.ok).toBe(false);
    if (!late.ok) expect(late.error).toMatchObject({ status: 504, message: expect.stringMatching(/^the deadline passed after \d+ ms in the queue$/) });
    // Lower bounds and an order only: a loaded machine makes everything later, never earlier.
    expect(lateAfter, "not before its deadline").toBeGreaterThanOrEqual(55);
    expect(firstAnswered, "answered while the premium batch was still held").toBe(false);
    expect((await first).ok).toBe(true);
    expect(Date.now() - started, "the premium batch was held").toBeGreaterThanOrEqual(290);
    expect((await host.state()).counters.expired).toBe(1);
  });

  it("parameters.timeout and the timeout header cannot raise the deadline above the tier's maximum", async () => {
    // The model's host is kept from running anything by a premium request held to fill a batch
    // for four times the free tier's longest deadline (a record with a longer max_queue_delay than
    // uploads allow). Free requests asking for an hour queue behind it: with their deadline cut to
    // the tier's maximum they are answered 504 then; uncut, they would wait for the hold and run.
    const upload = await uploadModel("mlp-deadline-cap", "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=16");
    expect(upload.status).toBe(201);
    const free = await createTenant("sched-deadline-free", "free");
    expect((await inferJson("mlp-deadline-cap", free, { inputs: mlp.inputs })).status).toBe(200); // creates the router's host
    const described = (await (await call("/admin/models/mlp-deadline-cap", { key: ADMIN })).json()) as ModelRecord & { hosts: { host: string }[] };
    const host = env.MODEL_HOST.getByName(described.hosts[0]!.host);
    const maxMs = TIERS.free.maxDeadlineMs;
    const inputs = mlp.inputs.map((t) => ({ name: t.name, datatype: "FP32" as const, shape: t.shape, data: Float32Array.from(t.data) }));
    const blocker = host.infer({
      model: { ...described.versions[0]!, version: "1-held", maxQueueDelayMs: 4 * maxMs },
      inputs,
      outputNames: ["output"],
      requestId: "deadline-cap-blocker",
      tenant: "blocker",
      priority: 1,
      deadline: Date.now() + 8 * maxMs,
      maxQueueWaitMs: maxMs,
    });
    for (let polls = 0; (await host.load()).queued === 0; polls++) {
      expect(polls, "the blocker never reached the queue").toBeLessThan(400);
      await new Promise((r) => setTimeout(r, 5));
    }

    const started = Date.now();
    const body = JSON.stringify({ inputs: mlp.inputs, parameters: { timeout: 3_600_000_000 } });
    const [byParameter, byHeader] = await Promise.all([
      call("/v2/models/mlp-deadline-cap/infer", { method: "POST", key: free, body }),
      call("/v2/models/mlp-deadline-cap/infer", {
        method: "POST",
        key: free,
        body: JSON.stringify({ inputs: mlp.inputs }),
        headers: { "x-hotpath-timeout-ms": "3600000" },
      }),
    ]);
    const answeredAfter = Date.now() - started;
    for (const response of [byParameter, byHeader]) {
      expect(response.status, await response.clone().text()).toBe(504);
      expect(((await response.json()) as { error: string }).error).toMatch(/^the deadline passed /);
    }
    expect(answeredAfter, "not before the tier's maximum").toBeGreaterThanOrEqual(maxMs - 50);
    expect(await host.cancel("deadline-cap-blocker"), "the hold was still on").toBe(true);
    expect((await blocker).ok).toBe(false);

    const bad = await inferJson("mlp-tiny", premium, { inputs: mlp.inputs, parameters: { timeout: -5 } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe("parameters.timeout must be a positive number of microseconds, got -5");
  });

  it("overload: refused at once with 503 and Retry-After when it cannot finish in time, 200 for the rest, nothing else", async () => {
    const upload = await uploadModel("wide-overload", "1", await fixtureBytes("fixtures/mlp-wide.onnx"), "?max_batch=64");
    expect(upload.status).toBe(201);
    for (let k = 0; k < 3; k++) await (await inferJson("wide-overload", premium, wideInput(64))).arrayBuffer(); // learn its speed
    const send = () =>
      call("/v2/models/wide-overload/infer", { method: "POST", key: premium, body: JSON.stringify(wideInput(64)), headers: { "x-hotpath-timeout-ms": "250" } });
    const responses = await Promise.all(Array.from({ length: 30 }, send));
    const statuses = responses.map((r) => r.status);
    expect(
      statuses.every((s) => s === 200 || s === 503 || s === 504),
      statuses.join(","),
    ).toBe(true);
    expect(statuses.filter((s) => s === 200).length, statuses.join(",")).toBeGreaterThan(0);
    const refused = responses.filter((r) => r.status === 503);
    expect(refused.length, statuses.join(",")).toBeGreaterThan(0);
    for (const response of refused) expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // most refusals come at once, not at the deadline
    expect(refused.length, statuses.join(",")).toBeGreaterThan(statuses.filter((s) => s === 504).length);
  });
});

describe("early refusal at the router", () => {
  it("a tier whose wait ahead the host last reported is too long is refused by the router, without calling the host", async () => {
    const upload = await uploadModel("wide-early", "1", await fixtureBytes("fixtures/mlp-wide.onnx"), "?max_batch=64");
    expect(upload.status).toBe(201);
    for (let k = 0; k < 3; k++) await (await inferJson("wide-early", premium, wideInput(64))).arrayBuffer(); // learn its speed
    const standard = await createTenant("early-standard", "standard");
    const free = await createTenant("early-free", "free");
    const body = JSON.stringify(wideInput(64));
    const send = (key: string, timeoutMs: number) =>
      call("/v2/models/wide-early/infer", { method: "POST", key, body, headers: { "x-hotpath-timeout-ms": String(timeoutMs) } });
    const counters = async () =>
      (
        (await (await call("/admin/models/wide-early", { key: ADMIN })).json()) as {
          hosts: { counters: { admitted: number; rejectedDeadline: number; rejectedFull: number } }[];
        }
      ).hosts[0]!.counters;

    // A backlog of standard work; its first answer carries the host's load to the router.
    const backlog = Array.from({ length: 40 }, () => send(standard, 10_000));
    await Promise.race(backlog);
    const before = await counters();
    const [freeAnswer, premiumAnswer] = await Promise.all([send(free, 5_000), send(premium, 5_000)]);
    const after = await counters();
    const statuses = (await Promise.all(backlog)).map((r) => r.status);

    expect(freeAnswer.status, await freeAnswer.clone().text()).toBe(503);
    expect(Number(freeAnswer.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await freeAnswer.json()) as { error: string }).error).toMatch(/queued ahead of free requests/);
    // premium waits only for the run in progress: the host takes it and it jumps the standard backlog
    expect(premiumAnswer.status).toBe(200);
    expect(after.admitted - before.admitted, "only the premium request reached the host").toBe(1);
    expect(after.rejectedDeadline + after.rejectedFull).toBe(before.rejectedDeadline + before.rejectedFull);
    expect(
      statuses.every((s) => s === 200 || s === 503),
      statuses.join(","),
    ).toBe(true);
  });
});

describe("cancellation", () => {
  it("cancelled queued work is dropped and answered 499 inside the host", async () => {
    // mlp-batched holds a lone request up to 50 ms to fill a batch: long enough to cancel it.
    const record = (await (await call("/admin/models/mlp-batched", { key: ADMIN })).json()) as ModelRecord;
    const model = record.versions[0]!;
    const host = env.MODEL_HOST.getByName("test:cancel:0");
    const inputs = mlp.inputs.map((t) => ({ name: t.name, datatype: "FP32" as const, shape: t.shape, data: Float32Array.from(t.data) }));
    const queued = host.infer({
      model,
      inputs,
      outputNames: ["output"],
      requestId: "queued",
      tenant: "t",
      priority: 1,
      deadline: Date.now() + 10_000,
      maxQueueWaitMs: 10_000,
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(await host.cancel("queued")).toBe(true);
    const reply = await queued;
    expect(reply.ok).toBe(false);
    if (!reply.ok) expect(reply.error.status).toBe(499);
    expect(await host.cancel("queued")).toBe(false);
    expect((await host.state()).counters).toMatchObject({ cancelled: 1, completed: 0 });
  });
});

describe("client aborts", () => {
  it("a client that aborts while its request is queued: the router cancels it and the host drops it", async () => {
    // A copy of mlp-tiny that holds a lone request as long as its deadline allows to fill a batch,
    // so the request is still queued when its client goes away.
    const upload = await uploadModel("mlp-held", "1", await fixtureBytes("models/mlp-tiny/1/model.onnx"), "?max_batch=16&max_queue_delay_microseconds=1000000");
    expect(upload.status).toBe(201);
    const body = JSON.stringify({ inputs: mlp.inputs });
    const headers = { authorization: `Bearer ${premium}`, "content-type": "application/json" };
    // Held to fill a batch until just before its deadline: a hold timer that fires late must not
    // turn it into a 504 (the scheduler keeps a margin for that).
    const warm = await call("/v2/models/mlp-held/infer", { method: "POST", body, headers: { ...headers, "x-hotpath-timeout-ms": "1000" } });
    expect(warm.status, await warm.clone().text()).toBe(200);
    const counters = async () =>
      ((await (await call("/admin/models/mlp-held", { key: ADMIN })).json()) as { hosts: { counters: { cancelled: number; completed: number } }[] }).hosts[0]!
        .counters;
    const before = await counters();

    // The Worker's own fetch handler with a request whose signal the test controls: what the
    // runtime hands the router when a client disconnects (wrangler dev's proxy does not pass it on).
    const controller = new AbortController();
    const request = new Request("http://hotpath.test/v2/models/mlp-held/infer", { method: "POST", body, headers, signal: controller.signal });
    const answer = worker.fetch(request, env, createExecutionContext());
    await new Promise((r) => setTimeout(r, 150));
    controller.abort();
    const response = await answer;
    const after = await counters();

    // Answered at the abort, not when the batch hold ended: read right after the answer, the
    // host has already dropped the request and has not run it.
    expect(response.status).toBe(499);
    expect(after.cancelled - before.cancelled, "the host dropped the queued request").toBe(1);
    expect(after.completed).toBe(before.completed);
  });
});

describe("observability", () => {
  it("Server-Timing names the batch size and the replica; the host reports its service-time estimates", async () => {
    const response = await inferJson("mlp-tiny", premium, { inputs: mlp.inputs });
    expect(response.headers.get("server-timing")).toMatch(/auth;dur=.*queue;dur=.*infer;dur=.*batch;desc="\d+".*replica;desc="[a-z]+\/0".*total;dur=/);
    const state = (await (await call("/admin/models/mlp-tiny", { key: ADMIN })).json()) as {
      hosts: { serviceTimes: Record<string, { batchSize: number; meanMs: number }[]> }[];
    };
    expect(state.hosts[0]!.serviceTimes["mlp-tiny@1"]?.length).toBeGreaterThan(0);
  });
});
