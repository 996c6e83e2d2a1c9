/**
 * @module End to end, the fault and abuse suite: the real edge under `wrangler dev`, two real
 * origins and a fault proxy in front of one of them, each test doing to the service what a careless
 * or hostile tenant, or a broken part, would do to it. Each names the harm it protects against,
 * and after each the service still serves a premium tenant onnxruntime-node's answer in time.
 *
 * A Durable Object that throws or is reset under a request is made in workerd, where the test can
 * reach the object (test/workerd/host-faults.test.ts): from outside the stack nothing can.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { AdminApiError } from "../../scripts/lib/admin-client.ts";
import { REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";
import { junkBodies } from "../node/junk-bodies.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { call, errorText, serverTiming, tenantKey, type Reply } from "./harness/http.ts";
import { closedLoop, log, tally } from "./harness/load.ts";
import { assertPrepared, HEAVY, TINY, type ModelFile } from "./harness/models.ts";
import { FAULTY_ID, PoolStack } from "./harness/pool-stack.ts";
import { assertServed, maxDiff, References, rows, TOLERANCE } from "./harness/tensors.ts";

const FILE_TIMEOUT_MS = 300_000;
const START_TIMEOUT_MS = 150_000;
const STOP_TIMEOUT_MS = 60_000;
const DEADLINE_MS = 3_000;
const fixture = (name: string) => join(REPO_ROOT, ".hotpath", name);

/** Silero with a batch window, so concurrent calls share runs: what a poisoned call could break. */
const VAD: ModelFile = { name: "vad-batched", version: "1", file: fixture("models/silero-vad/1/model.onnx"), width: 576 };
const TINY_V2_FILE = fixture("fixtures/mlp-tiny-v2.onnx");

const cleanup = new Cleanup();
const references = new References();
cleanup.finally(() => references.release());
let stack: PoolStack;
let standardKey: string;

interface JsonTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}
interface SileroFixture {
  inputs: JsonTensor[];
  outputs: JsonTensor[];
}

/** A premium request for mlp-tiny at the edge gets onnxruntime-node's answer within its deadline. */
async function assertStillServing(): Promise<void> {
  const input = rows(TINY.width, 1, 7);
  const reply = await stack.infer(TINY, input, DEADLINE_MS);
  assert.ok(!reply.hung, "the service hung");
  assertServed(reply, await references.output(TINY, input));
}

async function jsonCall(path: string, key: string, body: string | Uint8Array): Promise<{ status: number; error: string; headers: Headers }> {
  const response = await call(stack.edgeUrl, path, { method: "POST", key, body, headers: { "content-type": "application/json" } });
  return { status: response.status, error: errorText(await response.text()), headers: response.headers };
}

describe("abuse and faults: each harm is refused or absorbed, and the service keeps serving", { timeout: FILE_TIMEOUT_MS }, () => {
  before(
    async () => {
      assertPrepared(TINY, HEAVY, VAD);
      // Limits with typos must fail closed to their defaults, not turn into no limit (NaN compares false).
      // A queue long enough for the batching test's burst (the harness's default of 2 sheds most of it).
      const vars = { MAX_INFER_BODY_BYTES: "16 MiB", MAX_TENSOR_ELEMENTS: "4M", HOST_MAX_QUEUE_LENGTH: "64" };
      stack = await PoolStack.start(cleanup, { label: "abuse", origins: ["o1", "o2"], faultProxy: true, vars });
      await stack.upload(TINY, { placement: "edge" });
      await stack.upload(VAD, { placement: "edge", maxBatch: 32, maxQueueDelayMicroseconds: 20_000 });
      standardKey = await tenantKey(stack.admin, "abuse-standard", "standard");
    },
    { timeout: START_TIMEOUT_MS },
  );

  after(() => cleanup.run(), { timeout: STOP_TIMEOUT_MS });
  afterEach(() => assertStillServing());

  test("batch poisoning: a standard call with a state of the wrong batch size fails alone; premium calls batched beside it are served", async () => {
    const speech = JSON.parse(readFileSync(fixture("fixtures/silero-speech.json"), "utf8")) as SileroFixture;
    const valid = JSON.stringify({ inputs: speech.inputs });
    const [input, state, sr] = speech.inputs as [JsonTensor, JsonTensor, JsonTensor];
    const poisoned = JSON.stringify({ inputs: [input, { ...state, shape: [2, 5, 128], data: Array.from({ length: 1280 }, () => 0) }, sr] });
    const path = `/v2/models/${VAD.name}/infer`;
    const calls = Array.from({ length: 32 }, (_, i) => (i % 4 === 3 ? jsonCall(path, standardKey, poisoned) : jsonCall(path, stack.key, valid)));
    const replies = await Promise.all(calls);
    const premium = replies.filter((_, i) => i % 4 !== 3);
    const bad = replies.filter((_, i) => i % 4 === 3);
    log(`premium ${JSON.stringify(tally(premium, (r) => String(r.status)))}, poisoned ${JSON.stringify(tally(bad, (r) => String(r.status)))}`);
    const failed = premium.filter((r) => r.status !== 200);
    assert.equal(failed.length, 0, failed.map((r) => `${r.status} ${r.error}`).join("\n"));
    for (const reply of bad) {
      assert.equal(reply.status, 400, reply.error);
      assert.match(reply.error, /batch/);
    }
    // The valid answers are the model's, not a neighbour's.
    const expected = speech.outputs.find((o) => o.name === "output")!.data;
    const answer = await (
      await call(stack.edgeUrl, path, { method: "POST", key: stack.key, body: valid, headers: { "x-hotpath-timeout-ms": String(DEADLINE_MS) } })
    ).json();
    const output = (answer as { outputs: JsonTensor[] }).outputs.find((o) => o.name === "output")!.data;
    assert.ok(maxDiff(output, expected) <= TOLERANCE);
  });

  test("a flood of random keys, malformed and well-formed: 401 for each, while a tenant's requests keep being served", async () => {
    const keys = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? `hp_${randomBytes(32).toString("base64url")}` : randomBytes(24).toString("hex")));
    const input = rows(TINY.width, 1, 3);
    const expected = await references.output(TINY, input);
    const body = JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, TINY.width], data: [...input.data] }] });
    let next = 0;
    const flood = closedLoop(
      16,
      60_000,
      async () => (await jsonCall(`/v2/models/${TINY.name}/infer`, keys[next++]!, body)).status,
      () => next >= keys.length,
    );
    const tenant = closedLoop(
      2,
      60_000,
      () => stack.infer(TINY, input, DEADLINE_MS),
      () => next >= keys.length,
    );
    const [floodStatuses, served] = await Promise.all([flood, tenant]);
    log(`flood ${JSON.stringify(tally(floodStatuses, String))}, tenant ${JSON.stringify(tally(served, (r) => String(r.status)))}`);
    assert.ok(
      floodStatuses.every((s) => s === 401),
      `flood: ${JSON.stringify(tally(floodStatuses, String))}`,
    );
    assert.ok(served.length > 0);
    for (const reply of served) assertServed(reply, expected);
  });

  test("junk JSON (deep nesting, huge arrays, truncation, NaN, wrong dtypes and shapes): 400 each, with a message", async () => {
    const path = `/v2/models/${TINY.name}/infer`;
    const tensor = (fields: Record<string, unknown>) =>
      JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: Array(16).fill(0.5), ...fields }] });
    const junk = junkBodies(1 << 20);
    const bodies: Record<string, string | Uint8Array> = {
      ...junk,
      truncated: tensor({}).slice(0, 40),
      "not JSON": "hello",
      "NaN in data": tensor({}).replace("0.5", "NaN"),
      "a string where numbers go": tensor({ data: Array(16).fill("x") }),
      "a dtype the model does not take": tensor({ datatype: "INT8" }),
      "a shape the data does not fill": tensor({ shape: [2, 16] }),
      "a shape the model does not take": tensor({ shape: [1, 17], data: Array(17).fill(0) }),
    };
    for (const [what, body] of Object.entries(bodies)) {
      const reply = await jsonCall(path, stack.key, body);
      // Junk too big to parse safely may be refused as too large instead.
      assert.ok(reply.status === 400 || (reply.status === 413 && what in junk), `${what}: ${reply.status} ${reply.error}`);
      assert.ok(reply.error.length > 0 && !/at \w+ \(|\.ts:\d+/.test(reply.error), `${what}: ${reply.error}`);
    }
  });

  test("malformed limit vars fail closed to their defaults: a 17 MiB body and a 4.8M-element shape get 413", async () => {
    const path = `/v2/models/${TINY.name}/infer`;
    const padded = new Uint8Array(17 << 20).fill(0x20);
    padded.set(new TextEncoder().encode('{"inputs":[]}'));
    const big = await jsonCall(path, stack.key, padded);
    assert.equal(big.status, 413, big.error);
    const wide = await jsonCall(path, stack.key, JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [300_000, 16], data: [] }] }));
    assert.equal(wide.status, 413, wide.error);
  });

  test("an edge upload no host could keep warm: 413 naming placement=origin, and nothing registered", async () => {
    const heavyAtEdge: ModelFile = { ...HEAVY, name: "heavy-at-edge" };
    const refused = await stack.upload(heavyAtEdge, { placement: "edge" }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof AdminApiError, `the upload was accepted or failed otherwise: ${String(refused)}`);
    assert.equal(refused.status, 413, refused.message);
    assert.match(refused.message, /placement=origin/);
    assert.equal(await stack.admin.getModel(heavyAtEdge.name), undefined);
  });

  for (const placement of ["edge", "origin"] as const) {
    test(`delete and re-upload other bytes under the same version (${placement}): the new bytes answer, never the old session`, async () => {
      const name = `swap-${placement}`;
      const v1: ModelFile = { ...TINY, name };
      const v2: ModelFile = { ...v1, file: TINY_V2_FILE };
      const input = rows(TINY.width, 1, 11);
      const [expectedV1, expectedV2] = [await references.output(v1, input), await references.output(v2, input)];
      assert.ok(maxDiff(expectedV1, expectedV2) > 1e-2, "the two files must answer differently");

      await stack.upload(v1, { placement });
      assertServed(await stack.infer(v1, input, DEADLINE_MS), expectedV1);
      await stack.admin.deleteVersion(name, "1", true);
      await stack.upload(v2, { placement });
      const replies = await Promise.all(Array.from({ length: 6 }, () => stack.infer(v2, input, DEADLINE_MS)));
      for (const reply of replies) assertServed(reply, expectedV2);
    });
  }

  for (const mode of ["unauthorized", "silent"] as const) {
    test(`an origin that answers ${mode === "silent" ? "nothing (the connection closes)" : "401"}: its breaker opens, tenants are served by the others and never see its status`, async () => {
      const model: ModelFile = { ...TINY, name: "tiny-origin" };
      if (!(await stack.admin.getModel(model.name))) await stack.upload(model, { placement: "origin" });
      const input = rows(TINY.width, 1, 5);
      const expected = await references.output(model, input);
      // Start from o3 serving, so the fault is met rather than avoided; concurrent clients, so the
      // least-expected-wait choice spreads them over every usable origin.
      stack.proxy.reset();
      let back = false;
      await closedLoop(
        6,
        30_000,
        async () => {
          const reply = await stack.infer(model, input, DEADLINE_MS);
          back ||= reply.servedBy === `origin:${FAULTY_ID}`;
          return reply;
        },
        () => back,
      );
      assert.ok(back, `${FAULTY_ID} never served within 30 s`);
      stack.proxy.mode = mode;
      const replies: Reply[] = await closedLoop(6, 4_000, () => stack.infer(model, input, DEADLINE_MS));
      log(`${mode}: ${JSON.stringify(tally(replies, (r) => `${r.status} ${r.servedBy}${/after 2 tries/.test(serverTiming(r)) ? " (retried)" : ""}`))}`);
      assert.ok(stack.proxy.inferHits[mode] > 0, `no request reached ${FAULTY_ID} in ${mode} mode`);
      for (const reply of replies) assertServed(reply, expected);
      const view = (await stack.originViews()).find((o) => o.id === FAULTY_ID);
      assert.equal(view?.usable, false, `${FAULTY_ID} is still chosen: ${JSON.stringify(view)}`);
      stack.proxy.reset();
    });
  }
});
