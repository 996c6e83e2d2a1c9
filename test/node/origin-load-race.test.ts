/**
 * @module An origin assigned a model at start retries it until the edge has it; the edge's upload
 * then adds the version and calls the origin's load route. When that call arrives while a retry
 * is still waiting on the edge's 404 from before the version existed, the load answers with a
 * fresh attempt, not that stale 404 (which failed `npm start` on a state without the model);
 * unloaded meanwhile, it stays unloaded. A real origin process; between it and the dev edge, a
 * relay of the test's that holds the origin's record request and answers it 404 only once the
 * load call is waiting.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { startDevEdge, type DevEdge } from "../../origin/dev-edge.ts";
import { launchOrigin, waitListening, type LaunchedOrigin } from "../../origin/launch.ts";
import { REPO_ROOT } from "../../scripts/models/catalog.ts";
import { prepareModels } from "../../scripts/prepare-models.ts";
import { freePorts } from "../e2e/harness/ports.ts";

const TOKEN = "origin-load-race-token";
const MODELS_DIR = resolve(REPO_ROOT, ".hotpath/models");
const [edgePort, relayPort, originPort] = await freePorts(3);
const scratch = mkdtempSync(join(tmpdir(), "hotpath-origin-race-"));

let edge: DevEdge;
let relay: Server;
let origin: LaunchedOrigin | undefined;
let releaseStale: () => void = () => undefined;
let staleHeld: Promise<void>;
let reportHeld: () => void = () => undefined;
/** The next record request is held and answered 404 (the edge before the version existed). */
let holdNext = true;
let recordRequests = 0;

function holdTheNextRecord(): void {
  holdNext = true;
  staleHeld = new Promise((held) => (reportHeld = held));
}

before(async () => {
  if (!existsSync(join(MODELS_DIR, "manifest.json"))) prepareModels();
  edge = await startDevEdge({ port: edgePort!, token: TOKEN, modelsDir: MODELS_DIR, repoRoot: REPO_ROOT });
  holdTheNextRecord();
  relay = createServer((request, response) => {
    const isRecord = request.url === "/internal/models/mlp-tiny/versions/1";
    if (isRecord) recordRequests++;
    if (isRecord && holdNext) {
      holdNext = false;
      // The edge before the upload added the version: its answer, held until the load call waits.
      reportHeld();
      new Promise<void>((release) => (releaseStale = release)).then(() => {
        response.writeHead(404, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: "unknown version '1' of model 'mlp-tiny'" }));
      });
      return;
    }
    fetch(`${edge.url}${request.url}`, { headers: { authorization: request.headers.authorization ?? "" } }).then(async (answer) => {
      response.writeHead(answer.status, Object.fromEntries(answer.headers));
      response.end(new Uint8Array(await answer.arrayBuffer()));
    });
  });
  await new Promise<void>((listening) => relay.listen(relayPort, "127.0.0.1", listening));
});

after(async () => {
  releaseStale();
  await origin?.stop();
  relay?.closeAllConnections();
  await new Promise((closed) => relay?.close(closed));
  await edge?.close();
  rmSync(scratch, { recursive: true, force: true });
});

test("a load call that joins a start-up retry begun before the version existed answers with a fresh attempt", async () => {
  origin = await launchOrigin({
    port: originPort!,
    edge: `http://127.0.0.1:${relayPort}`,
    token: TOKEN,
    models: ["mlp-tiny@1"],
    cacheDir: join(scratch, "cache"),
    readyTimeoutMs: 0,
  });
  await waitListening(origin, 30_000);
  await staleHeld;
  const loading = fetch(`${origin.url}/v2/repository/models/mlp-tiny/load`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ parameters: { version: "1" } }),
  });
  // The load call reaches the origin in milliseconds and joins the attempt under way.
  await new Promise((waited) => setTimeout(waited, 300));
  releaseStale();
  const answer = await loading;
  const body = await answer.text();
  assert.equal(answer.status, 200, body);
  assert.equal(recordRequests, 2, "the load asked the edge again after the stale 404");
  const infer = await fetch(`${origin.url}/v2/models/mlp-tiny/infer`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: new Array(16).fill(0.5) }] }),
  });
  assert.equal(infer.status, 200);
});

test("unloaded while the load call waits on that attempt, the version stays unloaded: no second attempt", async () => {
  const load = (verb: "load" | "unload") =>
    fetch(`${origin!.url}/v2/repository/models/mlp-tiny/${verb}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ parameters: { version: "1" } }),
    });
  const unloaded = await load("unload");
  assert.equal(unloaded.status, 200, await unloaded.text());
  holdTheNextRecord();
  const before = recordRequests;
  const first = load("load"); // the attempt the relay holds
  await staleHeld;
  const joining = load("load");
  await new Promise((waited) => setTimeout(waited, 300));
  const unloading = load("unload");
  await new Promise((waited) => setTimeout(waited, 300));
  releaseStale();
  const answers = await Promise.all([first, joining, unloading]);
  assert.deepEqual(
    answers.map((answer) => answer.status),
    [404, 404, 200],
  );
  assert.equal(recordRequests - before, 1, "nobody asked the edge again");
  const infer = await fetch(`${origin!.url}/v2/models/mlp-tiny/infer`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: new Array(16).fill(0.5) }] }),
  });
  assert.equal(infer.status, 404, "the unloaded version is not served");
});
