/**
 * @module End to end: the origin pool with real processes on 127.0.0.1: `wrangler dev` (the edge),
 * two origin servers (origin/server.ts, cpu) and a fault-injecting proxy in front of one of them,
 * listed as a third origin. Covers an origin-placed model uploaded through the admin API and served
 * like onnxruntime-node, an `auto` model spilling under overload with the same answers, a faulty
 * origin opening its breaker and healing, the internal routes' shared secret, and origins killed
 * mid-load, all down, restarted from their verified disk cache, and refusing a tampered cache file.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import * as ort from "onnxruntime-node";
import { launchOrigin, waitReady, type LaunchedOrigin } from "../../origin/launch.ts";
import { decodeInferResponse, encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { mulberry32 } from "../../scripts/models/mlp.ts";
import { REPO_ROOT, startWranglerDev, type WranglerDev } from "../../scripts/lib/wrangler-dev.ts";
import { startFaultProxy, type FaultProxy } from "./fault-proxy.ts";

const HOST = "127.0.0.1";
const PORT = { edge: 8930, o1: 8931, o2: 8932, faulty: 8933 } as const;
const EDGE = `http://${HOST}:${PORT.edge}`;
const ADMIN_TOKEN = `e2e-admin-${randomUUID()}`;
const ORIGIN_TOKEN = `e2e-origin-${randomUUID()}`;
/** o3 is the fault proxy in front of o2: the edge sees three origins. */
const ORIGINS = [
  { id: "o1", url: `http://${HOST}:${PORT.o1}` },
  { id: "o2", url: `http://${HOST}:${PORT.o2}` },
  { id: "o3", url: `http://${HOST}:${PORT.faulty}` },
];
const HEAVY = { name: "mlp-heavy", version: "1", file: join(REPO_ROOT, ".hotpath/models/mlp-heavy/1/model.onnx"), width: 1024 };
const WIDE = { name: "mlp-wide", version: "1", file: join(REPO_ROOT, ".hotpath/fixtures/mlp-wide.onnx"), width: 256 };
/** The edge's ModelHost queue (see startEdge). */
const EDGE_QUEUE_LENGTH = 2;
/** Client timeouts are the request's deadline plus this: anything slower counts as a hang. */
const HANG_SLACK_MS = 2_000;

const scratch = mkdtempSync(join(tmpdir(), "hotpath-e2e-pool-"));
const cacheDir = (id: string) => join(scratch, `cache-${id}`);
const origins = new Map<string, LaunchedOrigin>();
const stopping = new AbortController();
let edge: WranglerDev | undefined;
let faulty: FaultProxy | undefined;
const references = new Map<string, ort.InferenceSession>();

after(async () => {
  stopping.abort();
  await Promise.all([...origins.values()].map((origin) => origin.stop(2_000)));
  await faulty?.close();
  await edge?.stop();
  for (const session of references.values()) await session.release();
  rmSync(scratch, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// processes

async function startEdge(): Promise<WranglerDev> {
  const envFile = join(scratch, "edge.env");
  // The env file replaces .dev.vars and overrides wrangler.toml's [vars]. HOST_MAX_QUEUE_LENGTH:
  // under wrangler dev the Worker and every ModelHost share one thread, so a host's queue holds
  // requests only while a batch waits to fill, and a queue of 128 is never reached on this machine;
  // a short queue gives the edge a capacity a 2-core machine can overload (see the spill test).
  writeFileSync(envFile, [`ADMIN_TOKEN=${ADMIN_TOKEN}`, `ORIGIN_TOKEN=${ORIGIN_TOKEN}`, `ORIGINS=${JSON.stringify(ORIGINS)}`, `HOST_MAX_QUEUE_LENGTH=${EDGE_QUEUE_LENGTH}`, ""].join("\n"));
  return startWranglerDev({ host: HOST, port: PORT.edge, persistTo: join(scratch, "state"), envFile, readyTimeoutMs: 90_000, signal: stopping.signal });
}

/** One origin process; registered before it is ready, so `after` stops it whatever happens. */
async function startOrigin(id: "o1" | "o2", models: string[]): Promise<LaunchedOrigin> {
  const origin = await launchOrigin({
    port: PORT[id], host: HOST, edge: EDGE, token: ORIGIN_TOKEN, models, cacheDir: cacheDir(id),
    args: ["--id", id, "--threads", "1"], readyTimeoutMs: 0,
  });
  origins.set(id, origin);
  await waitReady(origin, 60_000);
  return origin;
}

async function killOrigin(id: string): Promise<void> {
  const origin = origins.get(id);
  assert.ok(origin, `origin ${id} is not running`);
  origin.child.kill("SIGKILL");
  await origin.exited;
  origins.delete(id);
}

async function stopOrigin(id: string): Promise<void> {
  await origins.get(id)?.stop(5_000);
  origins.delete(id);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
  return performance.now() - started;
}

// ---------------------------------------------------------------------------------------------
// HTTP

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${EDGE}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

interface UploadedVersion {
  name: string;
  version: { version: string; placement: string; sha256: string; inputs: unknown[]; outputs: unknown[] };
}

/** PUT of raw .onnx bytes (fetch sets the Content-Length the edge requires). */
async function upload(model: typeof HEAVY, query: string): Promise<{ status: number; body: UploadedVersion & { error?: string } }> {
  const response = await fetch(`${EDGE}/admin/models/${model.name}/versions/${model.version}?${query}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/octet-stream" },
    body: readFileSync(model.file),
    signal: AbortSignal.timeout(120_000),
  });
  return { status: response.status, body: (await response.json()) as UploadedVersion & { error?: string } };
}

interface Reply {
  status: number;
  headers: Headers;
  output?: Float32Array;
  error?: string;
  elapsedMs: number;
  /** No answer within the deadline plus HANG_SLACK_MS. */
  hung: boolean;
  servedBy: string;
  startedAt: number;
}

/** One inference through the edge, binary both ways, with a deadline the edge must keep. */
async function infer(key: string, model: string, input: Tensor, deadlineMs: number): Promise<Reply> {
  const { body, headerLength } = encodeInferRequest({ inputs: [input], outputs: [{ name: "output", binary: true }] }, { binary: true });
  const headers: Record<string, string> = {
    authorization: `Bearer ${key}`,
    "content-type": "application/octet-stream",
    "x-hotpath-timeout-ms": String(deadlineMs),
  };
  if (headerLength !== undefined) headers["inference-header-content-length"] = String(headerLength);
  const startedAt = performance.now();
  try {
    const response = await fetch(`${EDGE}/v2/models/${model}/infer`, { method: "POST", body, headers, signal: AbortSignal.timeout(deadlineMs + HANG_SLACK_MS) });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const elapsedMs = performance.now() - startedAt;
    const servedBy = response.headers.get("x-served-by") ?? "";
    if (response.status !== 200) {
      let error = new TextDecoder().decode(bytes);
      try {
        error = (JSON.parse(error) as { error: string }).error;
      } catch {
        // keep the text
      }
      return { status: response.status, headers: response.headers, error, elapsedMs, hung: false, servedBy, startedAt };
    }
    const length = response.headers.get("inference-header-content-length");
    const result = decodeInferResponse(bytes, length === null ? undefined : Number(length));
    const output = result.outputs.find((o) => o.name === "output")?.data as Float32Array | undefined;
    return { status: 200, headers: response.headers, output, elapsedMs, hung: false, servedBy, startedAt };
  } catch (error) {
    if (error instanceof Error && error.name === "TimeoutError") {
      return { status: 0, headers: new Headers(), elapsedMs: performance.now() - startedAt, hung: true, servedBy: "", startedAt, error: "client timeout" };
    }
    throw error;
  }
}

/** Runs `one` back to back from `concurrency` clients until `durationMs` has passed or `done()`. */
async function closedLoop<T>(concurrency: number, durationMs: number, one: () => Promise<T>, done: () => boolean = () => false): Promise<T[]> {
  const until = performance.now() + durationMs;
  const results: T[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until && !done() && !stopping.signal.aborted) results.push(await one());
    }),
  );
  return results;
}

async function originHealth(url: string): Promise<{ ready: boolean; models: { name: string; version: string; state: string; source?: string }[] }> {
  const response = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(5_000) });
  return (await response.json()) as { ready: boolean; models: { name: string; version: string; state: string; source?: string }[] };
}

async function modelReadyOn(url: string, name: string): Promise<boolean> {
  try {
    return (await originHealth(url)).models.some((m) => m.name === name && m.state === "ready");
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// tensors

function rows(width: number, count: number, seed: number): Tensor {
  const random = mulberry32(seed);
  return { name: "input", datatype: "FP32", shape: [count, width], data: Float32Array.from({ length: count * width }, () => random() * 2 - 1) };
}

async function reference(model: typeof HEAVY, input: Tensor): Promise<Float32Array> {
  let session = references.get(model.name);
  if (!session) {
    session = await ort.InferenceSession.create(model.file, { intraOpNumThreads: 1 });
    references.set(model.name, session);
  }
  const out = await session.run({ input: new ort.Tensor("float32", input.data as Float32Array, input.shape) });
  return out.output!.data as Float32Array;
}

function maxDiff(actual: Float32Array | undefined, expected: Float32Array): number {
  assert.ok(actual, "no output");
  assert.equal(actual.length, expected.length, "output length");
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return worst;
}

const sha256File = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const serverTiming = (reply: Reply) => reply.headers.get("server-timing") ?? "";
const tally = (replies: Reply[], key: (r: Reply) => string) =>
  replies.reduce<Record<string, number>>((counts, r) => ({ ...counts, [key(r)]: (counts[key(r)] ?? 0) + 1 }), {});
const log = (line: string) => console.log(`# ${line}`);

/** Every reply is a 200 with onnxruntime-node's answer. */
function assertAllServed(replies: Reply[], expected: Float32Array): void {
  for (const reply of replies) {
    assert.equal(reply.status, 200, reply.error);
    assert.ok(maxDiff(reply.output, expected) <= 1e-4);
  }
}

// ---------------------------------------------------------------------------------------------

test("the origin pool: origin and auto placement, spill, faults, auth, restart from a verified cache", { timeout: 240_000 }, async (t) => {
  assert.ok(existsSync(HEAVY.file) && existsSync(WIDE.file), "no .hotpath/models/mlp-heavy or .hotpath/fixtures/mlp-wide.onnx: run `npm run models` first");
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, ".hotpath/models/manifest.json"), "utf8")) as { name: string; sha256: string; placement: string }[];
  const heavyManifest = manifest.find((m) => m.name === HEAVY.name);
  assert.equal(heavyManifest?.placement, "origin");

  let phase = performance.now();
  const lap = (what: string) => {
    log(`${what}: ${((performance.now() - phase) / 1000).toFixed(1)} s`);
    phase = performance.now();
  };

  // The origins start with no model: the edge assigns them at upload (and the test, for mlp-wide).
  [edge] = await Promise.all([startEdge(), startOrigin("o1", []), startOrigin("o2", [])]);
  faulty = await startFaultProxy({ host: HOST, port: PORT.faulty, target: ORIGINS[1]!.url });
  await admin("PUT", "/admin/tenants/e2e-pool", { tier: "premium", models: ["*"] });
  const { key } = await admin<{ key: string }>("POST", "/admin/tenants/e2e-pool/keys");
  lap("edge and two origins up");

  await t.test("mlp-heavy with placement=origin: the origins load it and report its signature; answers equal onnxruntime-node's", async () => {
    const uploaded = await upload(HEAVY, "placement=origin&max_batch=64");
    assert.equal(uploaded.status, 201, uploaded.body.error);
    const version = uploaded.body.version;
    assert.equal(version.placement, "origin");
    assert.equal(version.sha256, heavyManifest!.sha256);
    assert.deepEqual(version.inputs, [{ name: "input", datatype: "FP32", shape: [-1, 1024] }]);
    assert.deepEqual(version.outputs, [{ name: "output", datatype: "FP32", shape: [-1, 1024] }]);
    lap("mlp-heavy uploaded (100 MB) and loaded by the first origin");
    // Every origin was asked; the upload answered with the first. Both real ones get there.
    await waitFor("mlp-heavy ready on o1 and o2", async () => (await modelReadyOn(ORIGINS[0]!.url, HEAVY.name)) && (await modelReadyOn(ORIGINS[1]!.url, HEAVY.name)), 60_000);
    lap("mlp-heavy warm on both origins");

    const servedBy = new Set<string>();
    for (let k = 0; k < 6; k++) {
      const input = rows(HEAVY.width, 1 + k, 100 + k);
      const reply = await infer(key, HEAVY.name, input, 5_000);
      assert.equal(reply.status, 200, reply.error);
      assert.match(reply.servedBy, /^origin:o[123]$/);
      assert.match(serverTiming(reply), /origin;dur=/);
      const diff = maxDiff(reply.output, await reference(HEAVY, input));
      assert.ok(diff <= 1e-4, `max |diff| ${diff} against onnxruntime-node`);
      servedBy.add(reply.servedBy);
    }
    log(`mlp-heavy served by ${[...servedBy].join(", ")}`);
  });

  await t.test("auth: the edge's internal model routes and the origin take only the shared secret", async () => {
    const internal = `${EDGE}/internal/models/${HEAVY.name}/versions/${HEAVY.version}`;
    for (const path of [internal, `${internal}/bytes`]) {
      const none = await fetch(path, { signal: AbortSignal.timeout(10_000) });
      assert.equal(none.status, 401, path);
      assert.equal(typeof ((await none.json()) as { error: unknown }).error, "string");
      const wrong = await fetch(path, { headers: { authorization: `Bearer not-the-${ORIGIN_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
      assert.equal(wrong.status, 403, path);
      await wrong.body?.cancel();
      // The admin token is not the origin token either.
      const adminToken = await fetch(path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
      assert.equal(adminToken.status, 403, path);
      await adminToken.body?.cancel();
    }
    const right = await fetch(internal, { headers: { authorization: `Bearer ${ORIGIN_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
    assert.equal(right.status, 200);
    assert.equal(((await right.json()) as { sha256: string }).sha256, heavyManifest!.sha256);

    const input = rows(HEAVY.width, 1, 7);
    const { body, headerLength } = encodeInferRequest({ inputs: [input] }, { binary: true });
    const originInfer = `${ORIGINS[0]!.url}/v2/models/${HEAVY.name}/infer`;
    const call = (path: string, authorization: string | undefined, init: RequestInit = {}) =>
      fetch(path, {
        ...init,
        headers: {
          ...(authorization ? { authorization } : {}),
          ...(path === originInfer ? { "inference-header-content-length": String(headerLength) } : {}),
        },
        signal: AbortSignal.timeout(10_000),
      });
    for (const [path, init] of [
      [originInfer, { method: "POST", body }],
      [`${ORIGINS[0]!.url}/v2/models/${HEAVY.name}`, {}],
      [`${ORIGINS[0]!.url}/v2/repository/models/${HEAVY.name}/load`, { method: "POST", body: '{"parameters":{"version":"1"}}' }],
    ] as const) {
      const none = await call(path, undefined, init);
      assert.equal(none.status, 401, path);
      await none.body?.cancel();
      const wrong = await call(path, `Bearer not-the-${ORIGIN_TOKEN}`, init);
      assert.equal(wrong.status, 403, path);
      await wrong.body?.cancel();
    }
    const ok = await call(originInfer, `Bearer ${ORIGIN_TOKEN}`, { method: "POST", body });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    // Health probes stay open: load balancers and the edge probe without secrets.
    assert.equal((await fetch(`${ORIGINS[0]!.url}/v2/health/live`)).status, 200);
  });

  const wideInput = rows(WIDE.width, 16, 2026);
  await t.test("an auto model spills to the origins under overload, with the edge's answers", async () => {
    // One replica that batches up to 64 rows and waits up to 20 ms to fill a batch: 16 clients
    // sending 16 rows each keep more requests coming than its queue of EDGE_QUEUE_LENGTH holds.
    const uploaded = await upload(WIDE, "placement=auto&max_batch=64&max_queue_delay_microseconds=20000&min_replicas=1&max_replicas=1");
    assert.equal(uploaded.status, 201, uploaded.body.error);
    assert.equal(uploaded.body.version.placement, "auto");
    // The origins serve it too: the OIP repository extension, with the origin token.
    for (const origin of ORIGINS.slice(0, 2)) {
      const load = await fetch(`${origin.url}/v2/repository/models/${WIDE.name}/load`, {
        method: "POST",
        headers: { authorization: `Bearer ${ORIGIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ parameters: { version: WIDE.version } }),
        signal: AbortSignal.timeout(60_000),
      });
      const text = await load.text();
      assert.equal(load.status, 200, `${origin.id}: ${text}`);
    }
    const expected = await reference(WIDE, wideInput);
    const first = await infer(key, WIDE.name, wideInput, 2_000);
    assert.equal(first.status, 200, first.error);
    assert.match(first.servedBy, /^edge:/);
    assert.ok(maxDiff(first.output, expected) <= 1e-4);
    lap("mlp-wide uploaded (auto) and loaded on the origins");

    const replies = await closedLoop(16, 3_000, () => infer(key, WIDE.name, wideInput, 1_000));
    const where = tally(replies, (r) => (r.status === 200 ? r.servedBy.replace(/\/.*$/, "") : String(r.hung ? "hung" : r.status)));
    log(`overload, ${replies.length} requests: ${JSON.stringify(where)}`);
    lap("overload");
    assert.equal(replies.filter((r) => r.hung).length, 0, "a request outlived its deadline");
    for (const reply of replies) assert.ok([200, 503, 504].includes(reply.status), `status ${reply.status}: ${reply.error}`);
    const edgeServed = replies.filter((r) => r.status === 200 && r.servedBy.startsWith("edge:"));
    const spilled = replies.filter((r) => r.status === 200 && r.servedBy.startsWith("origin:"));
    assert.ok(edgeServed.length > 0, "no request was served at the edge");
    assert.ok(spilled.length > 0, "no request spilled to the origins");
    let worst = 0;
    for (const reply of spilled) {
      assert.match(serverTiming(reply), /spill;desc="edge (backlog|refused)"/);
      worst = Math.max(worst, maxDiff(reply.output, edgeServed[0]!.output!));
    }
    for (const reply of edgeServed) worst = Math.max(worst, maxDiff(reply.output, edgeServed[0]!.output!));
    const why = tally(spilled, (r) => /spill;desc="([^"]+)"/.exec(serverTiming(r))?.[1] ?? "?");
    log(`spilled (${JSON.stringify(why)}) vs edge answers: max |diff| ${worst}`);
    assert.ok(worst <= 1e-5, `spilled answers differ from the edge's by ${worst}`);
  });

  await t.test("an origin answering 500s, garbage, then 503s while it reloads: its breaker opens, requests keep succeeding, it recovers once healed", async () => {
    const proxy = faulty!;
    const heavyInput = rows(HEAVY.width, 2, 11);
    const expected = await reference(HEAVY, heavyInput);
    const call = () => infer(key, HEAVY.name, heavyInput, 5_000);
    const check = (replies: Reply[]) => assertAllServed(replies, expected);
    // 500s: concurrent requests, so the least-expected-wait choice spreads them over all three.
    proxy.mode = "error-500";
    const hitsBefore = proxy.inferHitTimes.length;
    const burst = await closedLoop(6, 5_000, call, () => proxy.inferHits["error-500"] >= 3);
    check(burst);
    assert.ok(burst.every((r) => r.servedBy !== "origin:o3"), "o3 answered 500 and still served");
    const failures = proxy.inferHits["error-500"];
    assert.ok(failures >= 3, `the faulty origin got ${failures} requests; its breaker needs 3 failures to open`);
    const retried = burst.filter((r) => /after 2 tries/.test(serverTiming(r))).length;
    // Open from the third failure: for its cool-down (2 s) the next requests leave it alone.
    const openedAt = proxy.inferHitTimes[hitsBefore + 2]!;
    const quiet = await closedLoop(6, Math.max(0, openedAt + 1_000 - performance.now()), call);
    check(quiet);
    const quietEnd = performance.now();
    const probes = proxy.inferHits["error-500"] - failures;
    // A probe can reach it 2 s after it opened at the earliest, then 4 s after that.
    const allowed = Math.floor((quietEnd - openedAt) / 2_000);
    log(`500s: ${burst.length} requests, ${failures} reached o3 (${retried} retried on another origin); then ${quiet.length} requests in ${(quietEnd - openedAt).toFixed(0)} ms, ${probes} reached o3`);
    assert.ok(probes <= allowed, `the open breaker let ${probes} requests through in ${(quietEnd - openedAt).toFixed(0)} ms`);

    // Garbage (a 200 that is no OIP answer) fails the half-open probe: open again, for 4 s.
    proxy.mode = "garbage";
    const garbage = await closedLoop(2, 6_000, call, () => proxy.inferHits.garbage >= 1);
    check(garbage);
    assert.ok(garbage.every((r) => r.servedBy !== "origin:o3"));
    assert.equal(proxy.inferHits.garbage, 1, "no probe, or more than one, reached the faulty origin");

    // Busy (503 + Retry-After, as an origin answers while it reloads its models): not a fault of
    // its health, retried elsewhere; the breaker must keep probing, not wait forever.
    proxy.mode = "busy";
    const busy = await closedLoop(2, 8_000, call, () => proxy.inferHits.busy >= 1);
    check(busy);
    assert.ok(proxy.inferHits.busy >= 1, "no probe reached the faulty origin within its cool-down");
    log(`garbage: ${garbage.length} requests, ${proxy.inferHits.garbage} reached o3; busy: ${busy.length} requests, ${proxy.inferHits.busy} reached o3`);

    // Healed: the next probe succeeds and o3 takes traffic again.
    proxy.mode = "pass";
    const healedAt = performance.now();
    let recovered: Reply | undefined;
    const serving = await closedLoop(
      2,
      10_000,
      async () => {
        const reply = await call();
        if (reply.servedBy === "origin:o3") recovered ??= reply;
        else await sleep(50);
        return reply;
      },
      () => recovered !== undefined,
    );
    check(serving);
    assert.ok(recovered, "the healed origin got no traffic back within 10 s");
    log(`healed: o3 served again ${((recovered.startedAt - healedAt) / 1000).toFixed(1)} s after it healed`);
    lap("faulty origin");
  });

  await t.test("active health checks: an origin whose ready check fails leaves the choice before requests fail on it, and is back once it passes", async () => {
    const proxy = faulty!;
    const heavyInput = rows(HEAVY.width, 2, 13);
    const expected = await reference(HEAVY, heavyInput);
    const call = () => infer(key, HEAVY.name, heavyInput, 5_000);
    const check = (replies: Reply[]) => assertAllServed(replies, expected);
    type OriginView = { id: string; usable: boolean; health: { state: string; reason?: string } };
    const o3 = async () => (await admin<{ origins: OriginView[] }>("GET", "/admin/origins")).origins.find((o) => o.id === "o3")!;
    await waitFor("o3 checked and ready", async () => (await o3()).health.state === "ready", 10_000);
    // Concurrent clients, so the least-expected-wait choice spreads them over every usable origin
    // (one at a time, the fastest origin would take them all and o3 would get none either way).
    const CLIENTS = 6;

    // Not ready (restarting, loading its models): the check finds it while traffic flows.
    proxy.mode = "unready";
    const unreadyAt = performance.now();
    let down: OriginView | undefined;
    const noticing = closedLoop(CLIENTS, 10_000, call, () => down !== undefined);
    await waitFor("o3 found down", async () => {
      const view = await o3();
      if (view.health.state === "down") down = view;
      return down !== undefined;
    }, 10_000);
    check(await noticing);
    assert.equal(down!.usable, false);
    assert.match(down!.health.reason ?? "", /not ready \(503: injected fault/);
    const noticedMs = performance.now() - unreadyAt;
    // While it is down, no request reaches it (each would fail and be retried), but checks do.
    const hitsAtDown = proxy.inferHits.unready;
    const checksAtDown = proxy.readyChecks.length;
    const whileDown = await closedLoop(CLIENTS, 3_000, call);
    check(whileDown);
    assert.equal(proxy.inferHits.unready, hitsAtDown, "requests were sent to an origin its health check found down");
    assert.ok(proxy.readyChecks.length - checksAtDown >= 2, `only ${proxy.readyChecks.length - checksAtDown} checks of the down origin in 3 s`);

    // Ready again: the next check brings it back, no failed request needed.
    proxy.mode = "pass";
    const readyAt = performance.now();
    let back: Reply | undefined;
    const serving = await closedLoop(CLIENTS, 10_000, async () => {
      const reply = await call();
      if (reply.servedBy === "origin:o3") back ??= reply;
      return reply;
    }, () => back !== undefined);
    check(serving);
    assert.ok(back, `o3 got no traffic back within 10 s of passing its checks: ${JSON.stringify(await admin("GET", "/admin/origins"))}`);
    assert.equal((await o3()).health.state, "ready");
    log(`health: o3 found down ${(noticedMs / 1000).toFixed(1)} s after it stopped being ready (${hitsAtDown} requests reached it first); ${whileDown.length} requests while down, none to it; served again ${((back.startedAt - readyAt) / 1000).toFixed(1)} s after it was ready`);
    lap("health checks");
  });

  await t.test("a slow origin: requests sent to it end at their deadline, never later; its breaker opens and the rest go elsewhere", async () => {
    const proxy = faulty!;
    const heavyInput = rows(HEAVY.width, 2, 17);
    const expected = await reference(HEAVY, heavyInput);
    const DEADLINE_MS = 800;
    proxy.slowMs = 3_000;
    proxy.mode = "slow";
    const loadMs = 6_000;
    const replies = await closedLoop(6, loadMs, () => infer(key, HEAVY.name, heavyInput, DEADLINE_MS));
    proxy.mode = "pass";
    const slowHits = proxy.inferHits.slow;
    const outcome = tally(replies, (r) => (r.hung ? "hung" : `${r.status}`));
    log(`slow origin: ${replies.length} requests ${JSON.stringify(outcome)}; ${slowHits} reached o3, answered at most ${Math.max(...replies.map((r) => r.elapsedMs)).toFixed(0)} ms after they were sent`);
    for (const reply of replies) {
      assert.equal(reply.hung, false, "a request got no answer");
      assert.ok(reply.status === 200 || reply.status === 504, `status ${reply.status}: ${reply.error}`);
      // the router's own deadline guard answers shortly after the deadline; local overhead on top
      assert.ok(reply.elapsedMs <= DEADLINE_MS + 400, `answered ${reply.elapsedMs.toFixed(0)} ms after it was sent, deadline ${DEADLINE_MS} ms`);
      if (reply.status === 200) assert.ok(maxDiff(reply.output, expected) <= 1e-4);
    }
    assert.ok(slowHits >= 3, `only ${slowHits} requests reached the slow origin`);
    // Three timeouts with ample time open its breaker; then only probes reach it (2 s, then 4 s).
    assert.ok(slowHits <= 3 + Math.ceil(loadMs / 2_000), `${slowHits} requests reached the slow origin in ${loadMs} ms`);
    assert.equal(outcome["504"], slowHits, "a 504 that did not come from the slow origin");
    // Healthy again: its next probe succeeds and it takes traffic, for the tests after this one.
    let back = false;
    await closedLoop(6, 15_000, async () => {
      const reply = await infer(key, HEAVY.name, heavyInput, 5_000);
      back ||= reply.servedBy === "origin:o3";
      return reply;
    }, () => back);
    assert.ok(back, "o3 did not serve again after it stopped being slow");
    lap("slow origin");
  });

  await t.test("faults: an origin killed mid-load, every origin down, a restart from the cache, a tampered cache file", async (t) => {
    const heavyInput = rows(HEAVY.width, 64, 5);
    const expected = await reference(HEAVY, heavyInput);
    const record = await admin<{ versions: { version: string; sha256: string }[] }>("GET", `/admin/models/${HEAVY.name}`);
    const sha256 = record.versions.find((v) => v.version === HEAVY.version)!.sha256;
    const cachedFile = join(cacheDir("o1"), HEAVY.name, HEAVY.version, `${sha256}.onnx`);
    const DEADLINE_MS = 3_000;

    await t.test("SIGKILL of an origin with requests in flight: 200 (retried elsewhere), 503 or 504, nothing past its deadline", async () => {
      let killedAt = Number.POSITIVE_INFINITY;
      let o1Before = 0;
      const load = closedLoop(8, 3_000, async () => {
        const reply = await infer(key, HEAVY.name, heavyInput, DEADLINE_MS);
        if (reply.servedBy === "origin:o1" && reply.startedAt + reply.elapsedMs < killedAt) o1Before++;
        return reply;
      });
      await waitFor("o1 serving part of the load", async () => o1Before >= 2, 5_000);
      const inFlight = (await originHealth(ORIGINS[0]!.url).catch(() => undefined)) as { load?: { queued: number; running: number } } | undefined;
      killedAt = performance.now();
      await killOrigin("o1");
      const replies = await load;
      const afterKill = replies.filter((r) => r.startedAt + r.elapsedMs > killedAt);
      const outcome = tally(afterKill, (r) => (r.hung ? "hung" : r.status === 200 ? `200 ${r.servedBy}${/after \d tries/.test(serverTiming(r)) ? " (retried)" : ""}` : String(r.status)));
      log(`kill: o1 had ${JSON.stringify(inFlight?.load)} at the kill; answers after it: ${JSON.stringify(outcome)}`);
      for (const reply of replies) {
        assert.equal(reply.hung, false, `a request got no answer within its deadline + ${HANG_SLACK_MS} ms`);
        assert.ok([200, 503, 504].includes(reply.status), `status ${reply.status}: ${reply.error}`);
        assert.ok(reply.elapsedMs <= DEADLINE_MS + 1_000, `answered after ${reply.elapsedMs.toFixed(0)} ms, deadline ${DEADLINE_MS}`);
        if (reply.status === 200) assert.ok(maxDiff(reply.output, expected) <= 1e-4);
        else assert.ok(reply.status === 504 || reply.headers.get("retry-after"), "a 503 without Retry-After");
      }
      // Whatever was queued or running on o1 got an answer; what came later went elsewhere.
      const servedAfter = afterKill.filter((r) => r.status === 200 && r.startedAt > killedAt + 500);
      assert.ok(servedAfter.length > 0 && servedAfter.every((r) => r.servedBy !== "origin:o1"), "requests after the kill were not served by the other origins");
    });

    await t.test("every origin down: origin models get 503 with Retry-After at once; auto models stay at the edge", async () => {
      await killOrigin("o2"); // o3 (the proxy in front of o2) now answers 502
      const replies: Reply[] = [];
      await waitFor("every breaker open", async () => {
        const reply = await infer(key, HEAVY.name, rows(HEAVY.width, 1, 3), DEADLINE_MS);
        replies.push(reply);
        return /no origin is available/.test(reply.error ?? "");
      }, 10_000);
      for (const reply of replies) {
        assert.equal(reply.status, 503, reply.error);
        assert.ok(Number(reply.headers.get("retry-after")) >= 1, "503 without Retry-After");
        assert.ok(reply.elapsedMs < 1_000, `the 503 took ${reply.elapsedMs.toFixed(0)} ms (deadline ${DEADLINE_MS} ms)`);
      }
      log(`all down: ${replies.length} requests, 503 in ${replies.map((r) => r.elapsedMs.toFixed(0)).join(", ")} ms; Retry-After ${replies.at(-1)!.headers.get("retry-after")} s`);
      const auto = await infer(key, WIDE.name, wideInput, 2_000);
      assert.equal(auto.status, 200, auto.error);
      assert.match(auto.servedBy, /^edge:/);
      assert.ok(maxDiff(auto.output, await reference(WIDE, wideInput)) <= 1e-4);
    });

    await t.test("a restarted origin serves again once its breaker lets a probe through, from its verified cache", async () => {
      // Clients keep calling through the restart, as they would: 503 at once until o1 is back.
      const replies: Reply[] = [];
      let readyAt = Number.POSITIVE_INFINITY;
      let servedAt: number | undefined;
      const calling = (async () => {
        const until = performance.now() + 90_000;
        while (servedAt === undefined && performance.now() < until && !stopping.signal.aborted) {
          const reply = await infer(key, HEAVY.name, rows(HEAVY.width, 1, 9), DEADLINE_MS);
          replies.push(reply);
          if (reply.servedBy === "origin:o1") servedAt = reply.startedAt;
          await sleep(200);
        }
      })();
      const restartedAt = performance.now();
      try {
        await startOrigin("o1", [`${HEAVY.name}@${HEAVY.version}`, `${WIDE.name}@${WIDE.version}`]);
        readyAt = performance.now();
        await waitFor("o1 serving through the edge again", async () => servedAt !== undefined, 15_000);
      } finally {
        servedAt ??= Number.NaN; // ends the calling loop
        await calling;
      }
      log(`restart: o1 ready ${((readyAt - restartedAt) / 1000).toFixed(1)} s after its start, served through the edge ${((servedAt - readyAt) / 1000).toFixed(1)} s after ready; ${JSON.stringify(tally(replies, (r) => String(r.status)))}`);
      for (const reply of replies) {
        assert.ok([200, 503].includes(reply.status), `status ${reply.status}: ${reply.error}`);
        assert.ok(reply.status === 200 || reply.elapsedMs < 1_000, `a 503 took ${reply.elapsedMs.toFixed(0)} ms`);
      }
      const origin = origins.get("o1")!;
      const health = await originHealth(origin.url);
      assert.equal(health.models.find((m) => m.name === HEAVY.name)?.source, "cache", JSON.stringify(health.models));
      assert.ok(origin.logs.some((line) => /mlp-heavy@1 ready in .*bytes from cache/.test(line)), origin.logs.join("\n"));
      assert.equal(sha256File(cachedFile), sha256, "the cached file is not the registry's bytes");
      const reply = await infer(key, HEAVY.name, heavyInput, DEADLINE_MS);
      assert.equal(reply.status, 200, reply.error);
      assert.ok(maxDiff(reply.output, expected) <= 1e-4);
    });

    await t.test("a tampered cached model is refused and fetched again", async () => {
      await stopOrigin("o1");
      const fd = openSync(cachedFile, "r+");
      try {
        writeSync(fd, randomBytes(4096), 0, 4096, 50_000_000);
      } finally {
        closeSync(fd);
      }
      assert.notEqual(sha256File(cachedFile), sha256);
      const origin = await startOrigin("o1", [`${HEAVY.name}@${HEAVY.version}`, `${WIDE.name}@${WIDE.version}`]);
      assert.ok(origin.logs.some((line) => /refusing the cached .*mlp-heavy.* sha256/.test(line)), origin.logs.join("\n"));
      assert.ok(origin.logs.some((line) => /mlp-heavy@1 ready in .*bytes from edge/.test(line)), origin.logs.join("\n"));
      assert.equal((await originHealth(origin.url)).models.find((m) => m.name === HEAVY.name)?.source, "edge");
      assert.equal(sha256File(cachedFile), sha256, "the re-fetched cache file does not match the registry's sha256");
      const reply = await infer(key, HEAVY.name, heavyInput, DEADLINE_MS);
      assert.equal(reply.status, 200, reply.error);
      assert.equal(reply.servedBy, "origin:o1");
      assert.ok(maxDiff(reply.output, expected) <= 1e-4);
      lap("faults");
    });
  });
});
