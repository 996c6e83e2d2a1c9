/**
 * The origin's start-up as real processes against the dev edge: the model cache across restarts
 * (no second download, a tampered file refused and fetched again, the cached record when the
 * edge is down), the execution provider's strict mode, and command-line errors.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { startDevEdge, type DevEdge } from "../../origin/dev-edge.ts";
import { PROBE_MODEL_BASE64 } from "../../origin/execution-provider.ts";
import { launchOrigin, type LaunchedOrigin } from "../../origin/launch.ts";
import { REPO_ROOT } from "../../scripts/models/catalog.ts";
import { generateMlp } from "../../scripts/models/mlp.ts";
import { prepareModels } from "../../scripts/prepare-models.ts";
import { freePorts } from "../e2e/harness/ports.ts";

const TOKEN = "origin-test-token-3";
// Ports the system picks, so no other test or running stack can be answering on them.
const [edgePort, originPort, strictPort, nothingPort] = await freePorts(4);
const PORT = { edge: edgePort!, origin: originPort!, strict: strictPort!, nothing: nothingPort! };
const MODELS_DIR = resolve(REPO_ROOT, ".hotpath/models");
const MODELS = ["mlp-tiny@1", "mlp-heavy@1"];
const scratch = mkdtempSync(join(tmpdir(), "hotpath-origin-cache-"));
const cacheDir = join(scratch, "cache");

let edge: DevEdge;
let manifest: { name: string; sha256: string; bytes: number }[];

before(async () => {
  const manifestPath = join(MODELS_DIR, "manifest.json");
  if (!existsSync(manifestPath) || !readFileSync(manifestPath, "utf8").includes('"mlp-heavy"')) prepareModels();
  manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as typeof manifest;
  edge = await startDevEdge({ port: PORT.edge, token: TOKEN, modelsDir: MODELS_DIR, repoRoot: REPO_ROOT });
});

after(async () => {
  await edge?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
const shaOf = (name: string): string => manifest.find((m) => m.name === name)!.sha256;
const cachedFile = (name: string): string => join(cacheDir, name, "1", `${shaOf(name)}.onnx`);
const fetches = (name: string): number => edge.counts.get(`bytes ${name}@1`) ?? 0;

/** Starts the origin, checks it answers mlp-tiny, stops it; returns its log. */
async function startAndStop(edgeUrl = edge.url): Promise<string[]> {
  let origin: LaunchedOrigin | undefined;
  try {
    origin = await launchOrigin({ port: PORT.origin, edge: edgeUrl, token: TOKEN, models: MODELS, cacheDir, readyTimeoutMs: 30_000 });
    const response = await fetch(`${origin.url}/v2/models/mlp-tiny/infer`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: new Array(16).fill(0.5) }] }),
    });
    assert.equal(response.status, 200);
    return origin.logs;
  } finally {
    assert.equal(await origin?.stop(), 0, "stops cleanly on SIGTERM");
  }
}

describe("origin model cache", () => {
  test("the first start fetches and caches verified files; a restart fetches no bytes again", async () => {
    const first = await startAndStop();
    assert.deepEqual([fetches("mlp-tiny"), fetches("mlp-heavy")], [1, 1]);
    for (const name of ["mlp-tiny", "mlp-heavy"]) {
      assert.equal(sha256(readFileSync(cachedFile(name))), shaOf(name), `${name} cached as fetched`);
      // Written to a temporary name and renamed: nothing else is left beside the file and its record.
      assert.deepEqual(readdirSync(join(cacheDir, name, "1")).sort(), [`${shaOf(name)}.onnx`, "record.json"].sort());
    }
    assert.ok(
      first.some((l) => l.includes("mlp-heavy@1 ready") && l.includes("bytes from edge")),
      first.join("\n"),
    );

    const second = await startAndStop();
    assert.deepEqual([fetches("mlp-tiny"), fetches("mlp-heavy")], [1, 1], "bytes come from the cache");
    assert.equal(edge.counts.get("record mlp-heavy@1"), 2, "the record is asked for again: the edge says which sha256 is current");
    assert.ok(
      second.some((l) => l.includes("mlp-heavy@1 ready") && l.includes("bytes from cache")),
      second.join("\n"),
    );
  });

  test("a cached file changed on disk is refused, logged and fetched again", async () => {
    const path = cachedFile("mlp-tiny");
    const bytes = readFileSync(path);
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 0xff; // same size, one byte flipped
    writeFileSync(path, bytes);
    const logs = await startAndStop();
    assert.ok(
      logs.some((l) => l.includes("refusing the cached") && l.includes(path)),
      logs.join("\n"),
    );
    assert.deepEqual([fetches("mlp-tiny"), fetches("mlp-heavy")], [2, 1]);
    assert.equal(sha256(readFileSync(path)), shaOf("mlp-tiny"), "the good file is back");
  });

  test("with the edge unreachable, a restart serves from the cached record and file", async () => {
    const logs = await startAndStop(`http://127.0.0.1:${PORT.nothing}`);
    assert.ok(
      logs.some((l) => l.includes("using the cached record of mlp-heavy@1")),
      logs.join("\n"),
    );
  });
});

describe("origin start-up", () => {
  test("--ep webgpu --strict exits 1 with the reason when no GPU answers", async (t) => {
    const origin = await launchOrigin({
      port: PORT.strict,
      edge: edge.url,
      token: TOKEN,
      models: [],
      cacheDir,
      args: ["--ep", "webgpu", "--strict"],
      readyTimeoutMs: 0,
    });
    const code = await Promise.race([origin.exited, new Promise<"running">((r) => setTimeout(() => r("running"), 20_000).unref())]);
    if (code === "running") {
      await origin.stop();
      t.skip("a WebGPU adapter answered here: strict mode has nothing to refuse");
      return;
    }
    assert.equal(code, 1);
    assert.ok(
      origin.logs.some((l) => /cannot start: execution provider 'webgpu' is unavailable: .+--strict/.test(l)),
      origin.logs.join("\n"),
    );
  });

  test("a bad command line exits 2 and says what is wrong", () => {
    const server = resolve(REPO_ROOT, "origin/server.ts");
    const cases: [Record<string, string>, string[], RegExp][] = [
      [{}, [], /ORIGIN_TOKEN must be set/],
      [{ ORIGIN_TOKEN: TOKEN }, ["--ep", "tpu"], /--ep must be cpu or webgpu/],
      [{ ORIGIN_TOKEN: TOKEN }, ["--models", "../x@1"], /--models entries are name@version/],
      [{ ORIGIN_TOKEN: TOKEN }, ["--port", "http"], /--port must be an integer/],
      [{ ORIGIN_TOKEN: TOKEN }, ["--bogus"], /Unknown option '--bogus'/],
    ];
    for (const [env, args, message] of cases) {
      const { ORIGIN_TOKEN: _, ...rest } = process.env;
      const result = spawnSync(process.execPath, [server, ...args], { env: { ...rest, ...env }, encoding: "utf8", timeout: 15_000 });
      assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /usage: ORIGIN_TOKEN=/);
    }
  });

  test("the built-in provider probe model is the generated 4-4 MLP", () => {
    assert.equal(PROBE_MODEL_BASE64, Buffer.from(generateMlp({ layers: [4, 4], seed: 1, inputName: "x", outputName: "y" })).toString("base64"));
  });
});
