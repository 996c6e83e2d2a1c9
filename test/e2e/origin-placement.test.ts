/**
 * @module End to end, where models run, with real processes on 127.0.0.1 (the edge under
 * `wrangler dev`, two origin servers): an origin-placed model uploaded through the admin API,
 * loaded by every origin and answering like onnxruntime-node; an `auto` model served at the edge
 * until its replica overflows, then spilled to the origins with the edge's answers.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Cleanup } from "./harness/cleanup.ts";
import { call, serverTiming, type Reply } from "./harness/http.ts";
import { closedLoop, log, tally } from "./harness/load.ts";
import { assertPrepared, HEAVY, manifestEntry, WIDE } from "./harness/models.ts";
import { PoolStack } from "./harness/pool-stack.ts";
import { assertServed, maxDiff, References, rows } from "./harness/tensors.ts";

/** The whole file; hooks inside a describe do not count against it, so each has its own limit. */
const FILE_TIMEOUT_MS = 240_000;
/** The edge, the origins and the uploads. */
const START_TIMEOUT_MS = 150_000;
const STOP_TIMEOUT_MS = 60_000;
/** Spilled answers come from onnxruntime-node on the same bytes as the edge's onnxruntime-web. */
const SPILL_TOLERANCE = 1e-5;
/**
 * The spill test's deadline: the edge refuses at once when its queue is full, and a refused
 * request spills only while its time left exceeds the pool's expected wait; this leaves every
 * refused request the time to spill, so each must be served.
 */
const SPILL_DEADLINE_MS = 4_000;

const cleanup = new Cleanup();
const references = new References();
// Released once every process has stopped, whatever happened to them.
cleanup.finally(() => references.release());
let stack: PoolStack;

describe("placement: origin models on the pool, auto models spilling from the edge", { timeout: FILE_TIMEOUT_MS }, () => {
  before(
    async () => {
      assertPrepared(HEAVY, WIDE);
      stack = await PoolStack.start(cleanup, { label: "placement", origins: ["o1", "o2"] });
    },
    { timeout: START_TIMEOUT_MS },
  );

  after(() => cleanup.run(), { timeout: STOP_TIMEOUT_MS });

  test("mlp-heavy with placement=origin: every origin loads it, the upload reports its signature, answers equal onnxruntime-node's", async () => {
    const manifest = manifestEntry(HEAVY);
    assert.equal(manifest.placement, "origin");
    const uploaded = await stack.upload(HEAVY, { placement: "origin", maxBatch: 64 });
    assert.equal(uploaded.version.placement, "origin");
    assert.equal(uploaded.version.sha256, manifest.sha256);
    assert.deepEqual(uploaded.version.inputs, [{ name: "input", datatype: "FP32", shape: [-1, 1024] }]);
    assert.deepEqual(uploaded.version.outputs, [{ name: "output", datatype: "FP32", shape: [-1, 1024] }]);
    // Every origin was asked; the upload answered with the first. Both get there.
    await stack.waitWarm(HEAVY, ["o1", "o2"]);

    const servedBy = new Set<string>();
    for (let k = 0; k < 6; k++) {
      const input = rows(HEAVY.width, 1 + k, 100 + k);
      const reply = await stack.infer(HEAVY, input, 5_000);
      assertServed(reply, await references.output(HEAVY, input));
      assert.match(reply.servedBy, /^origin:o[12]$/);
      assert.match(serverTiming(reply), /origin;dur=/);
      servedBy.add(reply.servedBy);
    }
    log(`mlp-heavy served by ${[...servedBy].join(", ")}`);
  });

  test("an auto model spills to the origins when the edge's replica is full, and every request is served with the edge's answers", async () => {
    // One replica that batches up to 64 rows and waits up to 20 ms to fill a batch: 16 clients
    // sending 16 rows each keep more requests coming than its queue (EDGE_QUEUE_LENGTH) holds.
    const uploaded = await stack.upload(WIDE, { placement: "auto", maxBatch: 64, maxQueueDelayMicroseconds: 20_000, minReplicas: 1, maxReplicas: 1 });
    assert.equal(uploaded.version.placement, "auto");
    // The origins serve it too: the OIP repository extension, with the origin token.
    for (const id of ["o1", "o2"] as const) {
      const load = await call(stack.originUrl(id), `/v2/repository/models/${WIDE.name}/load`, {
        method: "POST",
        key: stack.originToken,
        body: JSON.stringify({ parameters: { version: WIDE.version } }),
      });
      const text = await load.text();
      assert.equal(load.status, 200, `${id}: ${text}`);
    }
    const input = rows(WIDE.width, 16, 2026);
    const expected = await references.output(WIDE, input);
    const first = await stack.infer(WIDE, input, 2_000);
    assertServed(first, expected);
    assert.match(first.servedBy, /^edge:/, "an idle edge replica serves an auto model itself");

    const replies = await closedLoop(16, 3_000, () => stack.infer(WIDE, input, SPILL_DEADLINE_MS));
    const where = (r: Reply) => (r.status === 200 ? r.servedBy.replace(/\/.*$/, "") : r.hung ? "hung" : `${r.status} ${r.error}`);
    log(`overload, ${replies.length} requests: ${JSON.stringify(tally(replies, where))}`);
    for (const reply of replies) assert.equal(reply.status, 200, `${reply.hung ? "no answer" : reply.status}: ${reply.error}`);
    const edgeServed = replies.filter((r) => r.servedBy.startsWith("edge:"));
    const spilled = replies.filter((r) => r.servedBy.startsWith("origin:"));
    assert.equal(edgeServed.length + spilled.length, replies.length, "served neither at the edge nor on an origin");
    assert.ok(edgeServed.length > 0, "no request was served at the edge");
    assert.ok(spilled.length > 0, "no request spilled to the origins");
    let worst = 0;
    for (const reply of spilled) {
      assert.match(serverTiming(reply), /spill;desc="edge (backlog|refused)"/);
      worst = Math.max(worst, maxDiff(reply.output, edgeServed[0]!.output!));
    }
    for (const reply of edgeServed) worst = Math.max(worst, maxDiff(reply.output, expected));
    log(`spilled (${JSON.stringify(tally(spilled, (r) => /spill;desc="([^"]+)"/.exec(serverTiming(r))?.[1] ?? "?"))}) vs edge answers: max |diff| ${worst}`);
    assert.ok(worst <= SPILL_TOLERANCE, `answers differ by ${worst}`);
  });
});
