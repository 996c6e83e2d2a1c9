/**
 * @module A failed model load says what kind of failure it was by status, from the origin to the
 * edge's admin: bytes that are not a model are 422 on the origin and 400 for the uploader (their
 * mistake); an origin that cannot reach the edge is 503 with Retry-After on the origin and 503 for
 * the uploader (nobody's mistake in the upload). Real origin processes against the dev edge; the
 * edge's side is router/origin-pool/origin-admin.ts, run here against them over HTTP.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freePort } from "../e2e/harness/ports.ts";
import { startDevEdge, type DevEdge } from "../../origin/dev-edge.ts";
import { launchOrigin, type LaunchedOrigin } from "../../origin/launch.ts";
import { HttpError } from "../../protocol/errors.ts";
import { loadOnPool } from "../../router/origin-pool/origin-admin.ts";
import type { PoolEnv } from "../../router/origin-pool/pool.ts";
import { writeGarbageModel } from "./garbage-model.ts";

const TOKEN = "origin-load-failures-token";
const scratch = mkdtempSync(join(tmpdir(), "hotpath-origin-load-"));
let edge: DevEdge;
const origins: LaunchedOrigin[] = [];
let servesGarbage: LaunchedOrigin;
let cutOff: LaunchedOrigin;

before(async () => {
  const modelsDir = writeGarbageModel(scratch);
  edge = await startDevEdge({ port: await freePort(), token: TOKEN, modelsDir, repoRoot: scratch });
  const start = async (id: string, edgeUrl: string) => {
    const origin = await launchOrigin({
      port: await freePort(),
      edge: edgeUrl,
      token: TOKEN,
      models: [],
      cacheDir: join(scratch, `cache-${id}`),
      args: ["--id", id],
    });
    origins.push(origin);
    return origin;
  };
  servesGarbage = await start("garbage", edge.url);
  cutOff = await start("cut-off", `http://127.0.0.1:${await freePort()}`);
});

after(async () => {
  await Promise.all(origins.map((origin) => origin.stop()));
  await edge?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const load = (origin: LaunchedOrigin) =>
  fetch(`${origin.url}/v2/repository/models/garbage/load`, {
    method: "POST",
    body: JSON.stringify({ parameters: { version: "1" } }),
    headers: { authorization: `Bearer ${TOKEN}` },
  });

const poolOf = (origin: LaunchedOrigin): PoolEnv => ({ ORIGINS: JSON.stringify([{ id: "o", url: origin.url }]), ORIGIN_TOKEN: TOKEN });

test("bytes that are not a model: 422 on the origin, 400 for the uploader", async () => {
  const response = await load(servesGarbage);
  assert.equal(response.status, 422);
  assert.match(((await response.json()) as { error: string }).error, /garbage@1 could not be loaded: not a loadable ONNX model/);
  await assert.rejects(loadOnPool(poolOf(servesGarbage), "garbage", "1"), (error: unknown) => {
    assert.ok(error instanceof HttpError, String(error));
    assert.equal(error.status, 400);
    assert.match(error.message, /^origin o: garbage@1 could not be loaded: not a loadable ONNX model/);
    return true;
  });
});

test("an origin that cannot reach the edge: 503 with Retry-After on the origin and for the uploader", async () => {
  const response = await load(cutOff);
  assert.equal(response.status, 503);
  assert.ok(Number(response.headers.get("retry-after")) >= 1);
  assert.match(((await response.json()) as { error: string }).error, /garbage@1 could not be loaded: the edge at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
  await assert.rejects(loadOnPool(poolOf(cutOff), "garbage", "1"), (error: unknown) => {
    assert.ok(error instanceof HttpError, String(error));
    assert.equal(error.status, 503);
    assert.ok((error.retryAfterSeconds ?? 0) >= 1);
    assert.match(error.message, /origin o could not load the model: .*is unreachable/);
    return true;
  });
});
