/**
 * @module End to end, the shared secret between the edge and its origins, with real processes on
 * 127.0.0.1 (the edge under `wrangler dev`, one origin server): the edge's internal model routes
 * (where origins fetch records and bytes) and the origin's own routes take the origin token and
 * nothing else, not even the admin token; health probes stay open.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeInferResponse, encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { call, errorText, type CallInit } from "./harness/http.ts";
import { assertPrepared, manifestEntry, TINY } from "./harness/models.ts";
import { PoolStack } from "./harness/pool-stack.ts";
import { maxDiff, References, rows, TOLERANCE } from "./harness/tensors.ts";

const FILE_TIMEOUT_MS = 180_000;

const cleanup = new Cleanup();
const references = new References();
let stack: PoolStack;

/** A caller without a token gets 401 with an error body; one with `wrongTokens` gets 403. */
async function assertRefused(baseUrl: string, path: string, init: CallInit, wrongTokens: string[]): Promise<void> {
  const none = await call(baseUrl, path, init);
  const text = await none.text();
  assert.equal(none.status, 401, `${path} without a token: ${text}`);
  assert.notEqual(errorText(text), text, `${path}: the 401 has no {"error"} body`);
  for (const token of wrongTokens) {
    const wrong = await call(baseUrl, path, { ...init, key: token });
    assert.equal(wrong.status, 403, `${path} with ${token.slice(0, 12)}...: ${await wrong.text()}`);
  }
}

describe("auth of the internal routes: the origin token and nothing else", { timeout: FILE_TIMEOUT_MS }, () => {
  before(async () => {
    assertPrepared(TINY);
    stack = await PoolStack.start(cleanup, { label: "auth", origins: ["o1"] });
    // Origin-placed, so o1 loads it at upload and serves it on its own routes.
    await stack.upload(TINY, { placement: "origin", maxBatch: 64 });
    await stack.waitWarm(TINY, ["o1"]);
  });

  after(async () => {
    await cleanup.run();
    await references.release();
  });

  test("the edge's internal model routes: 401 without a token, 403 with another one or the admin token, the record with the origin token", async () => {
    const internal = `/internal/models/${TINY.name}/versions/${TINY.version}`;
    for (const path of [internal, `${internal}/bytes`]) {
      await assertRefused(stack.edgeUrl, path, {}, [`not-the-${stack.originToken}`, stack.adminToken]);
    }
    const record = await call(stack.edgeUrl, internal, { key: stack.originToken });
    const text = await record.text();
    assert.equal(record.status, 200, text);
    assert.equal((JSON.parse(text) as { sha256: string }).sha256, manifestEntry(TINY).sha256);
  });

  test("the origin's model routes: 401 without a token, 403 with another one, an answer like onnxruntime-node's with the origin token; health probes need none", async () => {
    const o1 = stack.originUrl("o1");
    const input = rows(TINY.width, 3, 7);
    const { body, headerLength } = encodeInferRequest({ inputs: [input], outputs: [{ name: "output", binary: true }] }, { binary: true });
    const inferPath = `/v2/models/${TINY.name}/infer`;
    const inferInit: CallInit = { method: "POST", body, headers: { "inference-header-content-length": String(headerLength) } };
    const routes: [string, CallInit][] = [
      [inferPath, inferInit],
      [`/v2/models/${TINY.name}`, {}],
      [`/v2/repository/models/${TINY.name}/load`, { method: "POST", body: '{"parameters":{"version":"1"}}' }],
    ];
    for (const [path, init] of routes) await assertRefused(o1, path, init, [`not-the-${stack.originToken}`, stack.adminToken]);

    const ok = await call(o1, inferPath, { ...inferInit, key: stack.originToken });
    const bytes = new Uint8Array(await ok.arrayBuffer());
    assert.equal(ok.status, 200, new TextDecoder().decode(bytes));
    const length = ok.headers.get("inference-header-content-length");
    const output = decodeInferResponse(bytes, length === null ? undefined : Number(length)).outputs.find((o) => o.name === "output");
    assert.ok(maxDiff(output?.data as Float32Array | undefined, await references.output(TINY, input)) <= TOLERANCE);
    // Load balancers and the edge probe without secrets.
    for (const probe of ["/v2/health/live", "/v2/health/ready"]) {
      const response = await call(o1, probe);
      assert.equal(response.status, 200, `${probe}: ${await response.text()}`);
    }
  });
});
