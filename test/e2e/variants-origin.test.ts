/**
 * @module End to end, a variant placed on the origin pool, with real processes on 127.0.0.1 (the
 * edge under `wrangler dev`, one origin server): uploaded with `placement=origin`, the origin
 * fetches and loads it under its served version `<version>~<variant>` and the accuracy guard runs
 * it there; pinned requests are answered by the origin with onnxruntime-node's outputs of the
 * variant's own bytes; an origin restarted with the variant in `--models` loads it from its disk
 * cache and serves it again; deleting the variant unloads it from the origin.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { VariantRecord } from "../../protocol/model-record.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { call, originHealth } from "./harness/http.ts";
import { log, waitFor } from "./harness/load.ts";
import { assertPrepared, TINY, type ModelFile } from "./harness/models.ts";
import { PoolStack } from "./harness/pool-stack.ts";
import { maxDiff, References, rows, TOLERANCE } from "./harness/tensors.ts";

/** The whole file; hooks inside a describe do not count against it, so each has its own limit. */
const FILE_TIMEOUT_MS = 240_000;
const START_TIMEOUT_MS = 150_000;
const STOP_TIMEOUT_MS = 60_000;
/** mlp-tiny's layers with weights from another seed: a stand-in for a variant whose answers differ from the default's. */
const SEED2: ModelFile = { ...TINY, file: join(REPO_ROOT, ".hotpath/fixtures/mlp-tiny-v2.onnx") };
const VARIANT = "seed2";
/** What the origin serves the variant under, and what its `--models` names it by. */
const SERVED = `${TINY.version}~${VARIANT}`;

const cleanup = new Cleanup();
const references = new References();
cleanup.finally(() => references.release());
let stack: PoolStack;

interface Answer {
  status: number;
  servedBy: string;
  variant: string | null;
  output: number[] | undefined;
  error: string | undefined;
}

/** A JSON inference through the edge pinning the variant. */
async function inferPinned(input: Tensor): Promise<Answer> {
  const response = await call(stack.edgeUrl, `/v2/models/${TINY.name}/infer`, {
    method: "POST",
    key: stack.key,
    body: JSON.stringify({ inputs: [{ ...input, data: Array.from(input.data as Float32Array) }], parameters: { variant: VARIANT } }),
    headers: { "content-type": "application/json", "x-hotpath-timeout-ms": "5000" },
    timeoutMs: 10_000,
  });
  const body = (await response.json()) as { outputs?: { data: number[] }[]; error?: string };
  return {
    status: response.status,
    servedBy: response.headers.get("x-served-by") ?? "",
    variant: response.headers.get("x-hotpath-variant"),
    output: body.outputs?.[0]?.data,
    error: body.error,
  };
}

async function assertOnOrigin(seed: number): Promise<void> {
  const input = rows(TINY.width, 3, seed);
  const answer = await inferPinned(input);
  assert.equal(answer.status, 200, answer.error);
  assert.equal(answer.servedBy, "origin:o1");
  assert.equal(answer.variant, VARIANT);
  // The variant's own bytes answered: onnxruntime-node's outputs of its file, not of the default's.
  const diff = maxDiff(answer.output, await references.output(SEED2, input));
  assert.ok(diff <= TOLERANCE, `max |diff| ${diff} against onnxruntime-node on the variant's file`);
  assert.ok(maxDiff(answer.output, await references.output(TINY, input)) > TOLERANCE, "the default's outputs, not the variant's");
}

const servedOnOrigin = async (): Promise<{ state: string; source?: string } | undefined> =>
  (await originHealth(stack.originUrl("o1"), stack.originToken)).models.find((m) => m.name === TINY.name && m.version === SERVED);

describe("a variant placed on the origin pool", { timeout: FILE_TIMEOUT_MS }, () => {
  before(
    async () => {
      assertPrepared(TINY, SEED2);
      stack = await PoolStack.start(cleanup, { label: "vorigin", origins: ["o1"] });
      await stack.upload(TINY, { placement: "edge", maxBatch: 16 });
    },
    { timeout: START_TIMEOUT_MS },
  );

  after(() => cleanup.run(), { timeout: STOP_TIMEOUT_MS });

  test("uploaded with placement=origin: the origin loads it as 1~seed2, the guard measures it there, pinned requests run there", async () => {
    const bytes = readFileSync(SEED2.file);
    const response = await call(stack.edgeUrl, `/admin/models/${TINY.name}/versions/${TINY.version}/variants/${VARIANT}?placement=origin&probes=8`, {
      method: "PUT",
      key: stack.adminToken,
      body: bytes,
      headers: { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) },
      timeoutMs: 120_000,
    });
    const body = (await response.json()) as { variant: VariantRecord; error?: string };
    assert.equal(response.status, 201, body.error);
    assert.equal(body.variant.placement, "origin");
    assert.equal(body.variant.accuracy.probes, 8);
    assert.ok(body.variant.accuracy.maxAbsError > 0, "the other seed's outputs differ from the default's");
    log(`variant measured on the origin: ${JSON.stringify(body.variant.accuracy)}`);
    assert.equal((await servedOnOrigin())?.state, "ready");
    await assertOnOrigin(1);
  });

  test("an origin restarted with the variant in --models loads it from its cache and serves it again", async () => {
    await stack.killOrigin("o1");
    await stack.startOrigin("o1", [{ ...TINY, version: SERVED }]);
    assert.equal((await servedOnOrigin())?.source, "cache");
    // The edge's breaker opened on the dead origin: its next probe brings it back.
    await waitFor("the restarted origin serving the variant", async () => (await inferPinned(rows(TINY.width, 1, 7))).servedBy === "origin:o1", 20_000);
    await assertOnOrigin(2);
  });

  test("deleting the variant unloads it from the origin", async () => {
    const response = await call(stack.edgeUrl, `/admin/models/${TINY.name}/versions/${TINY.version}/variants/${VARIANT}`, {
      method: "DELETE",
      key: stack.adminToken,
    });
    assert.equal(response.status, 200, await response.text());
    await waitFor("the origin unloading the variant", async () => (await servedOnOrigin()) === undefined, 10_000);
  });
});
