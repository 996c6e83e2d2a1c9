/**
 * @module End to end: the `hotpath` CLI (bin/hotpath.js, its own process each time) against a
 * real local stack (wrangler dev on a free port): every models, tenants and keys command once,
 * `--json` that parses, human tables, one-line errors for a server that is not hotpath, a port
 * nothing listens on and a wrong token, and an upload interrupted halfway, by killing the CLI or
 * by cutting its connection, that leaves nothing registered and lets the same version be pushed again;
 * a variant quantized with `models quantize` and pushed with `--variant` (its measured error, the
 * one-line 422 over `--max-error` and 400 for another signature, `list`, `delete --variant`), and
 * a version pushed with the response cache's options, whose same request twice is a cache hit.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { runCli, spawnCli, type CliResult } from "./harness/cli.ts";
import { call } from "./harness/http.ts";
import { waitFor } from "./harness/load.ts";
import { TINY, WIDE, assertPrepared } from "./harness/models.ts";
import { PoolStack } from "./harness/pool-stack.ts";
import { freePort } from "./harness/ports.ts";
import { startUploadRelay, type UploadRelay } from "./harness/upload-relay.ts";

const HOST = "127.0.0.1";
const TINY_V2 = join(REPO_ROOT, ".hotpath/fixtures/mlp-tiny-v2.onnx");
/** mlp-wide (6.3 MB) through the relay at 2 MB/s: about three seconds, so halfway is easy to catch. */
const RELAY_BYTES_PER_SECOND = 2_000_000;
const ROW = JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 16], data: Array.from({ length: 16 }, (_, i) => i / 16) }] });

const cleanup = new Cleanup();
const scratch = mkdtempSync(join(tmpdir(), "hotpath-cli-"));
cleanup.finally(() => rmSync(scratch, { recursive: true, force: true }));
let stack: PoolStack;
let env: Record<string, string>;
let relay: UploadRelay;

before(async () => {
  assertPrepared(TINY, WIDE);
  stack = await PoolStack.start(cleanup, { label: "cli", origins: [] });
  env = { HOTPATH_URL: stack.edgeUrl, HOTPATH_ADMIN_TOKEN: stack.adminToken };
  relay = await cleanup.start(startUploadRelay({ host: HOST, port: Number(new URL(stack.edgeUrl).port), bytesPerSecond: RELAY_BYTES_PER_SECOND }), (r) =>
    r.close(),
  );
});
after(() => cleanup.run());

/** Runs the CLI with the stack's URL and token in its environment and expects success. */
async function ok(...args: string[]): Promise<CliResult> {
  const result = await runCli(args, env);
  assert.equal(result.code, 0, `hotpath ${args.join(" ")}: exit ${result.code}\n${result.stderr}`);
  return result;
}

async function json<T>(...args: string[]): Promise<T> {
  return JSON.parse((await ok("--json", ...args)).stdout) as T;
}

/** Exit 1, stdout empty, exactly one line on stderr starting `error:`, and no stack frame. */
function assertOneLineFailure(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, "");
  const lines = result.stderr.trimEnd().split("\n");
  const last = lines.at(-1)!;
  assert.doesNotMatch(result.stderr, /^\s+at /m, "a stack trace");
  assert.match(last, /^error: /);
  assert.match(last, pattern);
  // Progress lines may precede it (an upload that started); nothing else.
  for (const line of lines.slice(0, -1)) assert.match(line, /^(pushing |\S+@\S+: )/, `unexpected stderr line: ${line}`);
}

const inferStatus = async (model: string, key: string): Promise<number> => {
  const response = await call(stack.edgeUrl, `/v2/models/${model}/infer`, { method: "POST", key, body: ROW });
  await response.body?.cancel();
  return response.status;
};

interface ListedModel {
  name: string;
  defaultVersion?: string;
  pinnedVersion?: string;
  versions: { version: string; state: string }[];
}

const listed = async (name: string): Promise<ListedModel | undefined> =>
  (await json<{ models: ListedModel[] }>("models", "list")).models.find((m) => m.name === name);

test("models: push with progress, list, default, unload and load, delete", async () => {
  const pushed = await ok("models", "push", "cli-tiny", "1", TINY.file, "--max-batch", "8");
  assert.match(pushed.stderr, /cli-tiny@1: 100% /, "progress lines off a terminal");
  assert.match(pushed.stdout, /registered:\s+cli-tiny@1/);
  const second = await json<{ version: { version: string; state: string; maxBatch: number; logPayloads?: number } }>(
    "models",
    "push",
    "cli-tiny",
    "2",
    TINY_V2,
    "--max-batch",
    "4",
    "--log-payloads",
    "0.25",
  );
  assert.deepEqual([second.version.version, second.version.state, second.version.maxBatch, second.version.logPayloads], ["2", "ready", 4, 0.25]);

  const human = (await ok("models", "list")).stdout.split("\n");
  assert.match(human[0]!, /^MODEL\s+VERSION\s+STATE\s+PLACEMENT\s+MAX BATCH\s+SIZE\s+DEFAULT\s+CREATED$/);
  const row = human.find((line) => line.startsWith("cli-tiny ") && /\s2\s/.test(line));
  assert.ok(row, human.join("\n"));
  assert.equal(row.indexOf("ready"), human[0]!.indexOf("STATE"), "columns aligned");
  assert.deepEqual((await listed("cli-tiny"))?.defaultVersion, "2");

  const pinned = await json<ListedModel>("models", "default", "cli-tiny", "1");
  assert.deepEqual([pinned.defaultVersion, pinned.pinnedVersion], ["1", "1"]);
  assert.match((await ok("models", "default", "cli-tiny", "--unpin")).stdout, /default version 2 \(highest ready\)/);

  const key = stack.key;
  const unloaded = await json<{ versions: { state: string }[] }>("models", "unload", "cli-tiny");
  assert.ok(unloaded.versions.every((v) => v.state === "UNAVAILABLE"));
  assert.equal(await inferStatus("cli-tiny", key), 503);
  const loaded = await json<{ versions: { state: string }[] }>("models", "load", "cli-tiny");
  assert.ok(loaded.versions.every((v) => v.state === "READY"));
  assert.equal(await inferStatus("cli-tiny", key), 200);

  assert.match((await ok("models", "delete", "cli-tiny", "1")).stdout, /^deleted cli-tiny@1; its bytes leave storage at /);
  assert.deepEqual(
    (await listed("cli-tiny"))?.versions.map((v) => v.version),
    ["2"],
  );
  // The last ready version needs --force; the server's reason comes through as one line.
  assertOneLineFailure(await runCli(["models", "delete", "cli-tiny", "2"], env), /force/);
  await json("models", "delete", "cli-tiny", "2", "--force");
  assert.equal(await listed("cli-tiny"), undefined);
});

test("tenants and keys: put, get, create, list, revoke; the revoked key gets 401", async () => {
  await ok("models", "push", "cli-keyed", "1", TINY.file);
  const tenant = await json<{ id: string; tier: string; models: string[] }>("tenants", "put", "cli-acme", "--tier", "standard", "--models", "cli-keyed");
  assert.deepEqual([tenant.id, tenant.tier, tenant.models], ["cli-acme", "standard", ["cli-keyed"]]);
  assert.match((await ok("tenants", "get", "cli-acme")).stdout, /^tenant:\s+cli-acme\ntier:\s+standard\nmodels:\s+cli-keyed\n/);

  const created = await json<{ key: string; keyId: string; tenant: string }>("keys", "create", "cli-acme");
  assert.equal(created.tenant, "cli-acme");
  assert.equal(await inferStatus("cli-keyed", created.key), 200);
  const keys = await json<{ keyIds: string[] }>("keys", "list", "cli-acme");
  assert.deepEqual(keys.keyIds, [created.keyId]);
  assert.match((await ok("keys", "list", "cli-acme")).stdout, new RegExp(`^KEY ID\\n${created.keyId}\\n$`));

  // --url and --admin-token instead of the environment, options after the command.
  const flags = await runCli(["keys", "revoke", "cli-acme", created.keyId, "--url", stack.edgeUrl, "--admin-token", stack.adminToken]);
  assert.equal(flags.code, 0, flags.stderr);
  assert.equal(flags.stdout, `revoked key ${created.keyId} of tenant cli-acme\n`);
  await waitFor("the revoked key refused", async () => (await inferStatus("cli-keyed", created.key)) === 401, 15_000);
  assert.deepEqual((await json<{ keyIds: string[] }>("keys", "list", "cli-acme")).keyIds, []);
  // keys create --tier makes the tenant first, as `npm run keys -- create` did.
  const fresh = await json<{ tier: string }>("keys", "create", "cli-new", "--tier", "premium");
  assert.equal(fresh.tier, "premium");
});

test("one-line errors: a server that is not hotpath, a port nothing listens on, a wrong token, a tenant key", async () => {
  const other = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>it works</html>"));
  await new Promise<void>((resolve) => other.listen(0, HOST, resolve));
  cleanup.add(() => new Promise((resolve) => other.close(resolve)));
  const otherUrl = `http://${HOST}:${(other.address() as { port: number }).port}`;
  const notHotpath = /is not a hotpath server: GET \/admin\/models answered 200 text\/html/;
  assertOneLineFailure(await runCli(["models", "list", "--url", otherUrl, "--admin-token", "t"]), notHotpath);
  assertOneLineFailure(
    await runCli(["models", "push", "x", "1", TINY.file], { HOTPATH_URL: otherUrl, HOTPATH_ADMIN_TOKEN: "t" }),
    /is not a hotpath server: PUT /,
  );

  const closed = `http://${HOST}:${await freePort(HOST)}`;
  assertOneLineFailure(await runCli(["tenants", "get", "x", "--url", closed, "--admin-token", "t"]), /^error: cannot reach .*: connection refused/);

  const wrongToken = { ...env, HOTPATH_ADMIN_TOKEN: "not-the-admin-token" };
  assertOneLineFailure(await runCli(["models", "list"], wrongToken), /refused the admin token \(401: invalid admin token\)/);
  assertOneLineFailure(await runCli(["models", "push", "x", "1", TINY.file], wrongToken), /refused the admin token \(401/);
  assertOneLineFailure(await runCli(["keys", "list", "x"], { ...env, HOTPATH_ADMIN_TOKEN: stack.key }), /\(403: tenant keys cannot use admin routes\)/);
  assertOneLineFailure(await runCli(["models", "push", "x", "1", join(REPO_ROOT, "no-such.onnx")], env), /no such file: .*no-such\.onnx/);
});

/** The model is not in the catalog at all: no version, no record left by the interrupted upload. */
async function assertNothingRegistered(name: string): Promise<void> {
  assert.equal(await stack.admin.getModel(name), undefined);
  const index = await call(stack.edgeUrl, "/v2/repository/index", { method: "POST", key: stack.adminToken });
  assert.ok(!((await index.json()) as { name: string }[]).some((entry) => entry.name === name), "in the repository index");
}

test("an upload killed halfway leaves nothing registered, and the same version then uploads", async () => {
  const size = statSync(WIDE.file).size;
  const upload = spawnCli(["models", "push", "cli-killed", "1", WIDE.file, "--url", relay.url, "--admin-token", stack.adminToken]);
  await relay.reached(relay.forwarded + size / 2);
  assert.equal(upload.child.exitCode, null, `the CLI ended before the kill: ${upload.stderr()}`);
  upload.child.kill("SIGKILL");
  assert.equal((await upload.done).signal, "SIGKILL");
  await assertNothingRegistered("cli-killed");
  const again = await json<{ version: { state: string; bytes: number } }>("models", "push", "cli-killed", "1", WIDE.file);
  assert.deepEqual([again.version.state, again.version.bytes], ["ready", size]);
});

test("an upload whose connection is cut halfway fails in one line, leaves nothing registered, and uploads again", async () => {
  const size = statSync(WIDE.file).size;
  const upload = spawnCli(["models", "push", "cli-cut", "1", WIDE.file, "--url", relay.url, "--admin-token", stack.adminToken]);
  await relay.reached(relay.forwarded + size / 2);
  relay.cut();
  assertOneLineFailure(await upload.done, /the connection to .* was cut \(E[A-Z]+\)/);
  await assertNothingRegistered("cli-cut");
  await ok("models", "push", "cli-cut", "1", WIDE.file);
  assert.equal((await listed("cli-cut"))?.versions[0]?.state, "ready");
});

/** One inference of the mlp-tiny row with the stack's key; `parameters` (a pinned variant) when given. */
const inferRow = (model: string, parameters?: Record<string, string>): Promise<Response> =>
  call(stack.edgeUrl, `/v2/models/${model}/infer`, {
    method: "POST",
    key: stack.key,
    body: parameters ? JSON.stringify({ ...JSON.parse(ROW), parameters }) : ROW,
  });

interface PushedVariant {
  variant: { variant: string; placement: string; maxError: number | null; accuracy: { probes: number; maxAbsError: number } };
  variants: { variant: string }[];
}

test("variants: quantize, push --variant with its measured error, one-line 422 and 400, list, pinned, delete --variant", async () => {
  const int8 = join(scratch, "tiny-int8.onnx");
  await ok("models", "quantize", TINY.file, int8, "--int8");
  await ok("models", "push", "cli-var", "1", TINY.file);
  assertOneLineFailure(
    await runCli(["models", "push", "cli-var", "1", int8, "--variant", "int8", "--max-error", "0"], env),
    /^error: 422: variant 'int8' is off by up to \S+ on 16 probes, over max_error=0; it was not added$/,
  );
  assertOneLineFailure(
    await runCli(["models", "push", "cli-var", "1", WIDE.file, "--variant", "wide"], env),
    /^error: 400: variant 'wide' does not match version '1' of model 'cli-var': its input 'input' has shape \[-1, 256\]/,
  );

  const pushed = await json<PushedVariant>("models", "push", "cli-var", "1", int8, "--variant", "int8", "--max-error", "0.1", "--probes", "8");
  assert.deepEqual([pushed.variant.variant, pushed.variant.placement, pushed.variant.maxError, pushed.variant.accuracy.probes], ["int8", "edge", 0.1, 8]);
  assert.ok(pushed.variant.accuracy.maxAbsError > 0 && pushed.variant.accuracy.maxAbsError <= 0.1, JSON.stringify(pushed.variant.accuracy));
  assert.deepEqual(
    pushed.variants.map((v) => v.variant),
    ["int8"],
  );

  const human = (await ok("models", "list")).stdout.split("\n");
  const header = human.findIndex((line) => line.startsWith("VARIANT OF"));
  assert.match(
    human[header] ?? "",
    /^VARIANT OF\s+VARIANT\s+PLACEMENT\s+SIZE\s+MAX ABS ERROR\s+MAX REL ERROR\s+TOP-1\s+MAX ERROR\s+CREATED$/,
    human.join("\n"),
  );
  assert.ok(
    human.slice(header).some((line) => /^cli-var@1\s+int8\s+edge\s+\S+ kB\s+\S+\s+\S+\s+\S+\s+0\.1\s+\d{4}-/.test(line)),
    human.join("\n"),
  );

  const pinned = await inferRow("cli-var", { variant: "int8" });
  assert.equal(pinned.status, 200, await pinned.clone().text());
  assert.equal(pinned.headers.get("x-hotpath-variant"), "int8");
  await pinned.body?.cancel();

  assert.match((await ok("models", "delete", "cli-var", "1", "--variant", "int8")).stdout, /^deleted variant int8 of cli-var@1; its bytes leave storage at /);
  assert.deepEqual(
    (await json<{ models: { name: string; versions: { variants?: unknown[] }[] }[] }>("models", "list")).models.find((m) => m.name === "cli-var")?.versions[0]
      ?.variants ?? [],
    [],
  );
  await waitFor(
    "a request pinning the deleted variant refused",
    async () => {
      const response = await inferRow("cli-var", { variant: "int8" });
      await response.body?.cancel();
      return response.status === 400;
    },
    15_000,
  );
});

test("response cache options: --cache-ttl and --cache-scope; the same request twice is a hit; --stateful with --cache-ttl is refused", async () => {
  const pushed = await json<{ version: { cache?: unknown } }>("models", "push", "cli-cached", "1", TINY.file, "--cache-ttl", "60", "--cache-scope", "shared");
  assert.deepEqual(pushed.version.cache, { ttlSeconds: 60, scope: "shared" });
  const first = await inferRow("cli-cached");
  const firstBody = await first.text();
  assert.equal(first.status, 200, firstBody);
  assert.equal(first.headers.get("x-hotpath-cache"), "miss");
  // The answer is written to the cache in the background, after it was sent.
  let secondBody = "";
  await waitFor(
    "the same request answered from the cache",
    async () => {
      const again = await inferRow("cli-cached");
      secondBody = await again.text();
      return again.status === 200 && again.headers.get("x-hotpath-cache") === "hit";
    },
    10_000,
  );
  assert.equal(secondBody, firstBody);
  assertOneLineFailure(
    await runCli(["models", "push", "cli-stateful", "1", TINY.file, "--cache-ttl", "60", "--stateful"], env),
    /^error: 400: a stateful model's answers are never cached/,
  );
  await assertNothingRegistered("cli-stateful");
});
