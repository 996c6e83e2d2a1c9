/**
 * @module The origin's ready probe is open to anyone, but only the holder of the origin token
 * (the edge's health checks) reads its report: which models it serves, their load and why one
 * failed to load. An anonymous caller, or one with another token, learns ready or not and
 * nothing more, not even the load header the edge reads off every answer. A real origin process
 * whose one assigned model cannot load (its bytes are not ONNX), so it stays not ready with an
 * error to hide.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freePort } from "../e2e/harness/ports.ts";
import { LOAD_HEADER } from "../../protocol/headers.ts";
import { startDevEdge, type DevEdge } from "../../origin/dev-edge.ts";
import { launchOrigin, type LaunchedOrigin } from "../../origin/launch.ts";
import { writeGarbageModel } from "./garbage-model.ts";

const TOKEN = "origin-ready-report-token";
const scratch = mkdtempSync(join(tmpdir(), "hotpath-origin-ready-"));
let edge: DevEdge;
let origin: LaunchedOrigin | undefined;

interface Report {
  ready?: boolean;
  error?: string;
  load?: unknown;
  models?: { name: string; state: string; error?: string }[];
}

before(async () => {
  const modelsDir = writeGarbageModel(scratch);
  edge = await startDevEdge({ port: await freePort(), token: TOKEN, modelsDir, repoRoot: scratch });
  // Never ready (its one model fails), so do not wait for ready.
  origin = await launchOrigin({
    port: await freePort(),
    edge: edge.url,
    token: TOKEN,
    models: ["garbage@1"],
    cacheDir: join(scratch, "cache"),
    args: ["--id", "ready-report"],
    readyTimeoutMs: 0,
  });
});

after(async () => {
  await origin?.stop();
  await edge?.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function ready(authorization?: string): Promise<{ status: number; text: string; report: Report }> {
  const response = await fetch(`${origin!.url}/v2/health/ready`, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  return { status: response.status, text, report: JSON.parse(text) as Report };
}

test("the token holder reads the models, load and load errors; anyone else only that it is not ready", async () => {
  // The token holder's report, once the load has failed at least once.
  let full: Report | undefined;
  for (let polls = 0; polls < 300 && !full?.models?.[0]?.error; polls++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    full = (await ready(`Bearer ${TOKEN}`).catch(() => undefined))?.report;
  }
  assert.equal(full?.ready, false, JSON.stringify(full));
  assert.ok(full?.load, "the load, which the edge weighs origins by");
  assert.equal(full?.models?.[0]?.name, "garbage");
  assert.match(full?.models?.[0]?.error ?? "", /not a loadable ONNX model/);
  assert.match(full?.error ?? "", /garbage@1/);

  for (const authorization of [undefined, "Bearer not-the-token", "Basic abc"]) {
    const { status, text, report } = await ready(authorization);
    assert.equal(status, 503, `${authorization}: ${text}`);
    assert.deepEqual(report, { error: "not ready", ready: false }, `${authorization}: ${text}`);
    assert.doesNotMatch(text, /garbage|onnx|models/i, `${authorization}: ${text}`);
  }
});

test("the load header goes to the token holder only, never to an unauthenticated caller of the open probes", async () => {
  const get = (path: string, authorization?: string) =>
    fetch(`${origin!.url}${path}`, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(5_000) });
  const withToken = await get("/v2/health/ready", `Bearer ${TOKEN}`);
  await withToken.arrayBuffer();
  assert.ok(withToken.headers.get(LOAD_HEADER), "the edge's health check reads the load");
  for (const path of ["/v2/health/live", "/v2/health/ready", "/v2/models/garbage"]) {
    for (const authorization of [undefined, "Bearer not-the-token", "Basic abc"]) {
      const response = await get(path, authorization);
      await response.arrayBuffer();
      assert.equal(response.headers.get(LOAD_HEADER), null, `${path} with ${authorization}: ${response.status}`);
    }
  }
});
