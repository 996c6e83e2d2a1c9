/**
 * The origin server as a real process (origin/server.ts) against the dev edge (origin/dev-edge.ts,
 * the one stand-in: it serves the prepared .hotpath/models files on the edge's internal routes):
 * outputs equal onnxruntime-node's, binary tensors both ways, auth, bad input, loading a model at
 * run time, and batching on vs off.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import { startDevEdge, type DevEdge } from "../../origin/dev-edge.ts";
import { launchOrigin, type LaunchedOrigin } from "../../origin/launch.ts";
import { decodeInferResponse, encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import type { InferResult, Tensor } from "../../protocol/oip/tensor.ts";
import { REPO_ROOT } from "../../scripts/models/catalog.ts";
import { mulberry32 } from "../../scripts/models/mlp.ts";
import { prepareModels } from "../../scripts/prepare-models.ts";
import { freePorts } from "../e2e/harness/ports.ts";

const TOKEN = "origin-test-token-1";
// Ports the system picks, so no other test or running stack can be answering on them.
const [edgePort, batchingPort, unbatchedPort] = await freePorts(3);
const PORT = { edge: edgePort!, batching: batchingPort!, unbatched: unbatchedPort! };
const MODELS_DIR = resolve(REPO_ROOT, ".hotpath/models");
const scratch = mkdtempSync(join(tmpdir(), "hotpath-origin-server-"));
const FEATURES: Record<string, [number, number]> = { "mlp-tiny": [16, 4], "mlp-heavy": [1024, 1024] };

let edge: DevEdge;
let batching: LaunchedOrigin;
let unbatched: LaunchedOrigin;
const reference = new Map<string, ort.InferenceSession>();

before(async () => {
  const manifestPath = join(MODELS_DIR, "manifest.json");
  const prepared = existsSync(manifestPath) && (JSON.parse(readFileSync(manifestPath, "utf8")) as { name: string }[]).some((m) => m.name === "mlp-heavy");
  if (!prepared) prepareModels();
  edge = await startDevEdge({ port: PORT.edge, token: TOKEN, modelsDir: MODELS_DIR, repoRoot: REPO_ROOT, maxQueueDelayMs: 5 });
  // --ep webgpu: without a GPU (CI, this machine) it must say why in one line and serve on cpu.
  [batching, unbatched] = await Promise.all([
    launchOrigin({
      port: PORT.batching,
      edge: edge.url,
      token: TOKEN,
      models: ["mlp-tiny@1", "mlp-heavy@1"],
      cacheDir: join(scratch, "a"),
      args: ["--id", "test-a", "--ep", "webgpu"],
    }),
    launchOrigin({
      port: PORT.unbatched,
      edge: edge.url,
      token: TOKEN,
      models: ["mlp-tiny@1"],
      cacheDir: join(scratch, "b"),
      args: ["--id", "test-b", "--batching", "off"],
    }),
  ]);
  for (const name of ["mlp-tiny", "mlp-heavy"]) reference.set(name, await ort.InferenceSession.create(join(MODELS_DIR, name, "1", "model.onnx")));
});

after(async () => {
  await Promise.all([batching?.stop(), unbatched?.stop()]);
  await edge?.close();
  for (const session of reference.values()) await session.release();
  rmSync(scratch, { recursive: true, force: true });
});

function rows(model: string, count: number, seed: number): Tensor {
  const random = mulberry32(seed);
  const width = FEATURES[model]![0];
  return { name: "input", datatype: "FP32", shape: [count, width], data: Float32Array.from({ length: count * width }, () => random() * 2 - 1) };
}

interface Reply {
  status: number;
  headers: Headers;
  result?: InferResult;
  error?: string;
}

async function infer(
  url: string,
  path: string,
  inputs: Tensor[],
  options: { binaryIn?: boolean; binaryOut?: boolean; parameters?: Record<string, unknown>; token?: string | null } = {},
): Promise<Reply> {
  const encoded = encodeInferRequest(
    { inputs, binaryByDefault: options.binaryOut ?? false, parameters: options.parameters },
    { binary: options.binaryIn ?? false },
  );
  return post(`${url}${path}`, encoded.body, encoded.headerLength, options.token);
}

async function post(url: string, body: Uint8Array | string, headerLength?: number, token: string | null = TOKEN): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (headerLength !== undefined) headers["inference-header-content-length"] = String(headerLength);
  const response = await fetch(url, { method: "POST", body, headers, signal: AbortSignal.timeout(20_000) });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const length = response.headers.get("inference-header-content-length");
  if (response.status !== 200)
    return { status: response.status, headers: response.headers, error: (JSON.parse(new TextDecoder().decode(bytes)) as { error: string }).error };
  return { status: 200, headers: response.headers, result: decodeInferResponse(bytes, length === null ? undefined : Number(length)) };
}

async function expected(model: string, input: Tensor): Promise<Float32Array> {
  const session = reference.get(model)!;
  const out = await session.run({ input: new ort.Tensor("float32", input.data as Float32Array, input.shape) });
  return out.output!.data as Float32Array;
}

function assertClose(actual: Tensor | undefined, want: Float32Array, what: string): void {
  assert.ok(actual, `${what}: no output`);
  assert.equal(actual.datatype, "FP32");
  const got = actual.data as Float32Array;
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++)
    assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5, `${what}: element ${i} is ${got[i]}, onnxruntime-node gives ${want[i]}`);
}

const batchOf = (reply: Reply): number => Number(/batch;desc="(\d+)"/.exec(reply.headers.get("server-timing") ?? "")?.[1]);

describe("origin server", () => {
  test("falls back from webgpu to cpu with one line saying why, and reports itself on every response", async () => {
    const health = await fetch(`${batching.url}/v2/health/ready`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(health.status, 200);
    const body = (await health.json()) as { ep: string; models: { name: string; state: string; serviceTimes: unknown[] }[] };
    if (body.ep === "cpu") assert.equal(batching.logs.filter((l) => l.includes("falling back to cpu")).length, 1, batching.logs.join("\n"));
    assert.deepEqual(
      body.models.map((m) => [m.name, m.state]),
      [
        ["mlp-tiny", "ready"],
        ["mlp-heavy", "ready"],
      ],
    );
    assert.ok(
      body.models.every((m) => m.serviceTimes.length >= 1),
      "warm-up runs seed the service-time estimates",
    );
    assert.equal(health.headers.get("x-served-by"), "origin:test-a");
    const load = JSON.parse(health.headers.get("x-hotpath-load") ?? "null") as Record<string, number>;
    assert.deepEqual(Object.keys(load).sort(), ["backlogMs", "gapMs", "queued", "running", "waitAheadMs"]);

    const meta = await fetch(`${batching.url}/v2/models/mlp-heavy`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.deepEqual(((await meta.json()) as { inputs: unknown }).inputs, [{ name: "input", datatype: "FP32", shape: [-1, 1024] }]);
    for (const path of ["/v2", "/v2/"]) {
      // The spec's own path for server metadata ends in a slash; both forms answer.
      const server = await fetch(`${batching.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(server.status, 200, path);
      assert.ok(((await server.json()) as { extensions: string[] }).extensions.includes("schedule_policy"), path);
    }
  });

  test("continues the edge's trace: the answer's traceparent has the trace id it got (a fresh one for a malformed header)", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const { body } = encodeInferRequest({ inputs: [rows("mlp-tiny", 1, 7)] }, { binary: false });
    const send = (traceparent: string) =>
      fetch(`${batching.url}/v2/models/mlp-tiny/infer`, { method: "POST", body, headers: { authorization: `Bearer ${TOKEN}`, traceparent } });
    const given = await send(`00-${traceId}-00f067aa0ba902b7-01`);
    assert.equal(given.status, 200, await given.text());
    assert.match(given.headers.get("traceparent") ?? "", new RegExp(`^00-${traceId}-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$`));
    const malformed = await send(`00-${traceId}-0000000000000000-01`);
    assert.equal(malformed.status, 200, await malformed.text());
    assert.match(malformed.headers.get("traceparent") ?? "", /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.ok(!malformed.headers.get("traceparent")!.includes(traceId));
  });

  test("outputs equal onnxruntime-node's for mlp-tiny and mlp-heavy, JSON and binary both ways", async () => {
    const cases = [
      { model: "mlp-tiny", count: 3, binaryIn: false, binaryOut: false },
      { model: "mlp-tiny", count: 1, binaryIn: true, binaryOut: true },
      { model: "mlp-heavy", count: 2, binaryIn: true, binaryOut: true },
      { model: "mlp-heavy", count: 1, binaryIn: false, binaryOut: true },
      { model: "mlp-heavy", count: 4, binaryIn: true, binaryOut: false },
    ];
    for (const [k, c] of cases.entries()) {
      const input = rows(c.model, c.count, 100 + k);
      const reply = await infer(batching.url, `/v2/models/${c.model}/versions/1/infer`, [input], c);
      assert.equal(reply.status, 200, reply.error);
      assert.equal(reply.headers.get("content-type"), c.binaryOut ? "application/octet-stream" : "application/json");
      assert.deepEqual(reply.result!.outputs[0]!.shape, [c.count, FEATURES[c.model]![1]]);
      assertClose(reply.result!.outputs[0], await expected(c.model, input), `${c.model} case ${k}`);
      assert.match(reply.headers.get("server-timing") ?? "", /queue;dur=[\d.]+,\s*infer;dur=[\d.]+,\s*batch;desc="\d+",\s*total;dur=[\d.]+$/);
      assert.equal(reply.headers.get("x-served-by"), "origin:test-a");
    }
  });

  test("every route but live and ready needs the origin token: 401 without, 403 with another", async () => {
    const body = JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: new Array(16).fill(0) }] });
    const calls: [string, string, string | undefined][] = [
      ["POST", "/v2/models/mlp-tiny/infer", body],
      ["GET", "/v2", undefined],
      ["GET", "/v2/models/mlp-tiny", undefined],
      ["GET", "/v2/models/mlp-tiny/ready", undefined],
      ["POST", "/v2/repository/models/mlp-heavy/load", "{}"],
      ["POST", "/v2/repository/index", undefined],
    ];
    for (const [method, path, payload] of calls) {
      for (const [authorization, status] of [
        [undefined, 401],
        ["Bearer not-the-token", 403],
        ["Basic abc", 401],
      ] as const) {
        const response = await fetch(`${batching.url}${path}`, { method, body: payload, headers: authorization ? { authorization } : {} });
        assert.equal(response.status, status, `${method} ${path} with ${authorization}`);
        assert.equal(typeof ((await response.json()) as { error: unknown }).error, "string");
      }
    }
    for (const path of ["/v2/health/live", "/v2/health/ready"]) assert.equal((await fetch(`${batching.url}${path}`)).status, 200, path);
    // Ready to anyone, but what it serves and its load only to the origin token (the edge's checks).
    const anonymous = await (await fetch(`${batching.url}/v2/health/ready`)).json();
    assert.deepEqual(anonymous, { ready: true });
    const report = (await (await fetch(`${batching.url}/v2/health/ready`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      models: { name: string }[];
      load: unknown;
    };
    assert.deepEqual(report.models.map((m) => m.name).sort(), ["mlp-heavy", "mlp-tiny"]);
    assert.ok(report.load);
  });

  test("bad input is a 400 that says what is wrong; unknown models and versions are 404", async () => {
    const url = `${batching.url}/v2/models/mlp-tiny/infer`;
    const input = (extra: Record<string, unknown>) =>
      JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: new Array(16).fill(0.5), ...extra }] });
    const cases: [string | Uint8Array, RegExp, number?][] = [
      ["{not json", /not valid JSON/],
      [JSON.stringify({ inputs: [] }), /non-empty array/],
      [input({ shape: [1, 15], data: new Array(15).fill(0) }), /dimension 1 must be 16/],
      [input({ datatype: "FP64" }), /must be FP32/],
      [input({ name: "x" }), /has no input 'x'/],
      [input({ data: [1, 2] }), /2 elements|does not match|shape/i],
      [
        JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [65, 16], data: new Array(65 * 16).fill(0) }] }),
        /exceeds the model's max_batch 64/,
      ],
      [JSON.stringify({ inputs: JSON.parse(input({})).inputs, outputs: [{ name: "nope" }] }), /no output 'nope'/],
      [JSON.stringify({ inputs: JSON.parse(input({})).inputs, parameters: { priority: -1 } }), /parameters.priority/],
      [JSON.stringify({ inputs: JSON.parse(input({})).inputs, parameters: { timeout: "soon" } }), /parameters.timeout/],
      [input({ parameters: { binary_data_size: 64 } }), /both data and parameters.binary_data_size/],
      [input({}), /exceeds the request body/, 10_000],
    ];
    for (const [body, message, headerLength] of cases) {
      const reply = await post(url, body, headerLength);
      assert.equal(reply.status, 400, `${String(body).slice(0, 80)}: ${reply.error}`);
      assert.match(reply.error ?? "", message);
    }
    assert.equal((await post(`${batching.url}/v2/models/nope/infer`, input({}))).status, 404);
    assert.equal((await post(`${batching.url}/v2/models/mlp-tiny/versions/9/infer`, input({}))).status, 404);
    assert.equal((await fetch(`${batching.url}/v2/models/nope/ready`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
  });

  test("the repository extension loads a model at run time, warm before it answers", async () => {
    const load = (model: string, body: string) => post(`${unbatched.url}/v2/repository/models/${model}/load`, body);
    assert.equal((await load("mlp-heavy", "{}")).status, 400, "no version");
    assert.equal((await load("not-a-model", JSON.stringify({ parameters: { version: "1" } }))).status, 404);
    assert.equal((await load("mlp-heavy", JSON.stringify({ parameters: { version: ".." } }))).status, 400, "versions name cache folders");
    const loaded = await fetch(`${unbatched.url}/v2/repository/models/mlp-heavy/load`, {
      method: "POST",
      body: JSON.stringify({ parameters: { version: "1" } }),
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(loaded.status, 200);
    assert.equal(((await loaded.json()) as { loaded: boolean }).loaded, true);
    assert.equal((await fetch(`${unbatched.url}/v2/health/ready`)).status, 200, "a failed load does not leave the origin unready");
    const index = (await (await fetch(`${unbatched.url}/v2/repository/index`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
      name: string;
      state: string;
    }[];
    assert.deepEqual(
      index.map((m) => [m.name, m.state]),
      [
        ["mlp-tiny", "READY"],
        ["mlp-heavy", "READY"],
      ],
    );
  });

  test("batching on and off give the same outputs; only the batching origin merges requests", async () => {
    const sizes = [1, 2, 3, 1, 5, 2, 1, 4, 1, 3, 2, 1];
    const inputs = sizes.map((n, k) => rows("mlp-heavy", n, 500 + k));
    const burst = async (origin: LaunchedOrigin) => {
      // A 64-row run first, so the burst queues behind it and the batcher has something to merge.
      const blocker = infer(origin.url, "/v2/models/mlp-heavy/infer", [rows("mlp-heavy", 64, 1)], { binaryIn: true, binaryOut: true });
      await new Promise((r) => setTimeout(r, 5));
      const replies = await Promise.all(inputs.map((input) => infer(origin.url, "/v2/models/mlp-heavy/infer", [input], { binaryIn: true, binaryOut: true })));
      assert.equal((await blocker).status, 200);
      return replies;
    };
    const merged = await burst(batching);
    const alone = await burst(unbatched);
    for (const [k, input] of inputs.entries()) {
      assert.equal(merged[k]!.status, 200, merged[k]!.error);
      assert.equal(alone[k]!.status, 200, alone[k]!.error);
      const want = await expected("mlp-heavy", input);
      assertClose(merged[k]!.result!.outputs[0], want, `batched request ${k}`);
      assertClose(alone[k]!.result!.outputs[0], want, `unbatched request ${k}`);
      assert.equal(batchOf(alone[k]!), sizes[k], `with batching off, request ${k} runs alone`);
    }
    assert.ok(
      merged.some((reply, k) => batchOf(reply) > sizes[k]!),
      `some requests shared a run: ${merged.map(batchOf).join(",")}`,
    );
  });
  test("batched inputs that disagree on the batch size are a 400 on both origins, batching on or off", async () => {
    // Silero's batch is axis 0 of `input` and axis 1 of `state`: 1 row of input with 5 of state
    // passes the per-input checks, and with batching on would fail the whole merged run. Loaded
    // here, last, so the tests above see the origins' models as launched.
    const body = JSON.stringify({
      inputs: [
        { name: "input", datatype: "FP32", shape: [1, 576], data: new Array(576).fill(0) },
        { name: "state", datatype: "FP32", shape: [2, 5, 128], data: new Array(2 * 5 * 128).fill(0) },
        { name: "sr", datatype: "INT64", shape: [], data: [16000] },
      ],
    });
    for (const origin of [batching, unbatched]) {
      const loaded = await fetch(`${origin.url}/v2/repository/models/silero-vad/load`, {
        method: "POST",
        body: JSON.stringify({ parameters: { version: "1" } }),
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(loaded.status, 200, await loaded.text());
      const reply = await post(`${origin.url}/v2/models/silero-vad/infer`, body);
      assert.equal(reply.status, 400, reply.error);
      assert.match(reply.error ?? "", /inputs disagree on the batch size: input 'input' .* has 1, input 'state' .* has 5/);
    }
  });
});
