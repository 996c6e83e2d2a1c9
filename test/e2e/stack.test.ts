/** @module End to end: `scripts/start.ts` as a user runs it, then real HTTP against the local stack, a restart on the same state, and nothing left running. */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { liveGroupMembers } from "../../scripts/lib/wrangler-dev.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HOST = "127.0.0.1";
const PORT = 8797;
const ORIGIN_PORT = 8798;
const BASE = `http://${HOST}:${PORT}`;
const DEMO_MODELS = ["silero-vad", "ppocr-rec", "mlp-tiny"];
const TOLERANCE = 1e-4;
/** First start uploads ~12 MB of models and warms their sessions. */
const START_TIMEOUT_MS = 240_000;
const STOP_TIMEOUT_MS = 30_000;

const scratch = mkdtempSync(join(tmpdir(), "hotpath-e2e-"));
const keysFile = join(scratch, "keys.json");
const running = new Set<ChildProcess>();

interface Tensor { name: string; datatype: string; shape: number[]; data: number[] }
interface Fixture { model: string; version: string; inputs: Tensor[]; outputs: Tensor[] }
interface Keys { admin: string; free: string; standard: string; premium: string }
interface Stack { child: ChildProcess; output: () => string }

after(async () => {
  // Whatever a failed test left behind: the whole process group (start.ts, wrangler, workerd).
  for (const child of running) killGroup(child, "SIGKILL");
  for (const child of running) await groupGone(child, 5_000);
  rmSync(scratch, { recursive: true, force: true });
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // group already gone
  }
}

/** True once no live process of the group is left (zombies awaiting PID 1 do not count). */
async function groupGone(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (liveGroupMembers(child.pid!).length > 0) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** Starts the stack like `npm start` does, in its own process group so cleanup reaches wrangler and workerd. */
async function startStack(): Promise<Stack> {
  const child = spawn(
    process.execPath,
    [
      join(REPO_ROOT, "scripts/start.ts"),
      "--port", String(PORT), "--origin-port", String(ORIGIN_PORT), "--host", HOST,
      "--persist-to", join(scratch, "state"),
      "--keys-file", keysFile,
      // Its own admin token: the user's .dev.vars is neither read nor written.
      "--dev-vars", join(scratch, "dev.vars"),
    ],
    { cwd: REPO_ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  running.add(child);
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready banner within ${START_TIMEOUT_MS} ms:\n${output}`)), START_TIMEOUT_MS);
    const check = () => {
      if (output.includes(`hotpath ready on ${BASE}`)) {
        clearTimeout(timer);
        child.stdout!.off("data", check);
        resolve();
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`start.ts exited with ${code} before its banner:\n${output}`));
    });
  });
  return { child, output: () => output };
}

/** SIGTERM as a service manager would send; start.ts must stop wrangler and exit 0. */
async function stopStack(stack: Stack): Promise<void> {
  const { child } = stack;
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
  child.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), STOP_TIMEOUT_MS)))]);
  clearTimeout(timer);
  assert.notEqual(code, "timeout", `start.ts did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM:\n${stack.output()}`);
  assert.equal(code, 0, `start.ts exit code:\n${stack.output()}`);
  assert.ok(await groupGone(child, 10_000), `wrangler or workerd outlived start.ts: pids ${liveGroupMembers(child.pid!).join(", ")}`);
  running.delete(child);
  assert.equal(await portOpen(), false, `something still listens on ${PORT}`);
}

function portOpen(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(PORT, HOST);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function call(path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.key) headers.set("authorization", `Bearer ${init.key}`);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  return fetch(`${BASE}${path}`, { ...init, headers, signal: AbortSignal.timeout(60_000) });
}

function readKeys(): Keys {
  return JSON.parse(readFileSync(keysFile, "utf8")) as Keys;
}

function demoFixtures(): Fixture[] {
  const dir = join(REPO_ROOT, ".hotpath/fixtures");
  assert.ok(existsSync(dir), "no .hotpath/fixtures: run `npm run models` first");
  // Version-1 fixtures only: the stack registers version 1 of each demo model.
  const fixtures = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as Fixture)
    .filter((f) => DEMO_MODELS.includes(f.model) && f.version === "1");
  assert.deepEqual(new Set(fixtures.map((f) => f.model)), new Set(DEMO_MODELS), "a fixture for every demo model");
  return fixtures;
}

async function assertFixture(fixture: Fixture, key: string): Promise<void> {
  const response = await call(`/v2/models/${fixture.model}/infer`, { method: "POST", key, body: JSON.stringify({ inputs: fixture.inputs }) });
  const text = await response.text();
  assert.equal(response.status, 200, `${fixture.model}: ${text.slice(0, 300)}`);
  assert.match(response.headers.get("x-served-by") ?? "", /^edge:/);
  assert.match(response.headers.get("server-timing") ?? "", /infer;dur=/);
  const body = JSON.parse(text) as { model_name: string; outputs: Tensor[] };
  assert.equal(body.model_name, fixture.model);
  for (const expected of fixture.outputs) {
    const actual = body.outputs.find((o) => o.name === expected.name);
    assert.ok(actual, `${fixture.model}: output ${expected.name} missing`);
    assert.equal(actual.datatype, expected.datatype);
    assert.deepEqual(actual.shape, expected.shape, `${fixture.model}/${expected.name} shape`);
    const data = actual.data.flat(Infinity) as number[];
    assert.equal(data.length, expected.data.length);
    let worst = 0;
    for (let i = 0; i < data.length; i++) worst = Math.max(worst, Math.abs(data[i]! - expected.data[i]!));
    assert.ok(worst <= TOLERANCE, `${fixture.model}/${expected.name}: max |diff| ${worst} > ${TOLERANCE}`);
  }
}

/** Everything the registry says about each version, createdAt included: a re-upload would change it. */
async function registrySnapshot(admin: string): Promise<unknown> {
  const response = await call("/admin/models", { key: admin });
  assert.equal(response.status, 200);
  const { models } = (await response.json()) as { models: { name: string; versions: unknown[] }[] };
  return models.filter((m) => DEMO_MODELS.includes(m.name)).sort((a, b) => a.name.localeCompare(b.name));
}

test("the local stack: demo models, tiers, auth errors, restart on the same state", { timeout: 2 * START_TIMEOUT_MS + 120_000 }, async (t) => {
  assert.equal(await portOpen(), false, `port ${PORT} is taken; the test needs it free`);
  const fixtures = demoFixtures();
  let stack = await startStack();
  let keys: Keys;
  let snapshot: unknown;
  let keysText: string;

  await t.test("writes a 0600 keys file with an admin token and a key per tier", () => {
    keysText = readFileSync(keysFile, "utf8");
    keys = readKeys();
    for (const name of ["admin", "free", "standard", "premium"] as const) assert.ok(keys[name], `${name} key`);
    assert.equal(statSync(keysFile).mode & 0o777, 0o600);
  });

  await t.test("the demo models answer the fixtures like onnxruntime-node", async () => {
    for (const fixture of fixtures) await assertFixture(fixture, keys.premium);
  });

  await t.test("every tier's key works", async () => {
    const mlp = fixtures.find((f) => f.model === "mlp-tiny")!;
    for (const tier of ["free", "standard", "premium"] as const) {
      const metadata = await call("/v2/models/mlp-tiny", { key: keys[tier] });
      assert.equal(metadata.status, 200, `${tier}: ${await metadata.text()}`);
      await assertFixture(mlp, keys[tier]);
    }
  });

  await t.test("auth errors: no key 401, unknown key 401, tenant key on admin 403", async () => {
    const body = JSON.stringify({ inputs: fixtures.find((f) => f.model === "mlp-tiny")!.inputs });
    const none = await call("/v2/models/mlp-tiny/infer", { method: "POST", body });
    assert.equal(none.status, 401);
    assert.equal(typeof ((await none.json()) as { error: unknown }).error, "string");
    const unknown = await call("/v2/models/mlp-tiny/infer", { method: "POST", body, key: "hp_not-a-real-key" });
    assert.equal(unknown.status, 401);
    await unknown.body?.cancel();
    const admin = await call("/admin/models", { key: keys.premium });
    assert.equal(admin.status, 403);
    await admin.body?.cancel();
  });

  await t.test("malformed JSON is a 400 and the stack keeps serving", async () => {
    const bad = await call("/v2/models/mlp-tiny/infer", { method: "POST", key: keys.standard, body: '{"inputs": [' });
    assert.equal(bad.status, 400);
    assert.equal(typeof ((await bad.json()) as { error: unknown }).error, "string");
    await assertFixture(fixtures.find((f) => f.model === "mlp-tiny")!, keys.standard);
  });

  snapshot = await registrySnapshot(keys!.admin);
  assert.equal((snapshot as unknown[]).length, DEMO_MODELS.length);
  await stopStack(stack);

  await t.test("a restart reuses the state: same keys, no re-registration, still serving", async () => {
    stack = await startStack();
    assert.equal(readFileSync(keysFile, "utf8"), keysText, "keys file changed on restart");
    assert.doesNotMatch(stack.output(), /uploading|created tenant/);
    assert.deepEqual(await registrySnapshot(keys.admin), snapshot);
    for (const fixture of fixtures.filter((f) => f.model !== "ppocr-rec")) await assertFixture(fixture, keys.premium);
    await stopStack(stack);
  });
});
