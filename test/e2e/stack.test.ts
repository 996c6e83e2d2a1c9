/**
 * @module End to end: `scripts/start.ts` as a user runs it, then real HTTP against the local
 * stack (the edge's demo models, and the origin-placed one through the local origin), a restart
 * on the same state, and nothing left running.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { descendants, listeningPorts, REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";
import { Cleanup } from "./harness/cleanup.ts";
import {
  portOpen as portOpenAt,
  readDemoKeys,
  START_TIMEOUT_MS,
  startDemoStack,
  STOP_TIMEOUT_MS,
  stopDemoStack,
  type DemoStack,
} from "./harness/demo-stack.ts";
import { call as callAt, infer } from "./harness/http.ts";
import { sleep } from "./harness/load.ts";
import { assertPrepared, HEAVY } from "./harness/models.ts";
import { freePorts } from "./harness/ports.ts";
import { assertServed, maxDiff, References, rows, TOLERANCE } from "./harness/tensors.ts";

const HOST = "127.0.0.1";
const [PORT, ORIGIN_PORT] = await freePorts(2, HOST);
const BASE = `http://${HOST}:${PORT}`;
/** The edge's demo models, each with a fixture; start.ts registers mlp-heavy too, for the origin. */
const DEMO_MODELS = ["silero-vad", "ppocr-rec", "mlp-tiny"];
const REGISTERED = [...DEMO_MODELS, HEAVY.name];
/** After a restart the origin loads mlp-heavy from its cache while the stack already answers (503 meanwhile). */
const ORIGIN_RELOAD_TIMEOUT_MS = 30_000;

const scratch = mkdtempSync(join(tmpdir(), "hotpath-e2e-"));
const cleanup = new Cleanup();
const references = new References();

interface Tensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}
interface Fixture {
  model: string;
  version: string;
  inputs: Tensor[];
  outputs: Tensor[];
}

after(
  async () => {
    await cleanup.run();
    await references.release();
  },
  { timeout: STOP_TIMEOUT_MS },
);
cleanup.finally(() => rmSync(scratch, { recursive: true, force: true }));

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** Starts the stack like `npm start` does, in its own process group so cleanup reaches workerd and the origin. */
const startStack = (): Promise<DemoStack> => startDemoStack(cleanup, { host: HOST, port: PORT!, originPort: ORIGIN_PORT!, scratch });
const stopStack = stopDemoStack;
const portOpen = (): Promise<boolean> => portOpenAt(HOST, PORT!);

const call = (path: string, init: Parameters<typeof callAt>[2] = {}): Promise<Response> => callAt(BASE, path, init);

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
    const worst = maxDiff(actual.data.flat(Infinity) as number[], expected.data);
    assert.ok(worst <= TOLERANCE, `${fixture.model}/${expected.name}: max |diff| ${worst} > ${TOLERANCE}`);
  }
}

/** Everything the registry says about each version, createdAt included: a re-upload would change it. */
async function registrySnapshot(admin: string): Promise<unknown> {
  const response = await call("/admin/models", { key: admin });
  assert.equal(response.status, 200);
  const { models } = (await response.json()) as { models: { name: string; versions: unknown[] }[] };
  return models.filter((m) => REGISTERED.includes(m.name)).sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * mlp-heavy through the edge and the local origin, like onnxruntime-node. While the origin still
 * loads it (after a restart) the edge refuses with 503 and Retry-After; those are waited out.
 */
async function assertHeavyServed(key: string, loadTimeoutMs: number): Promise<void> {
  const input = rows(HEAVY.width, 4, 42);
  const until = performance.now() + loadTimeoutMs;
  let reply = await infer(BASE, key, HEAVY.name, input, 10_000);
  while (reply.status === 503 && performance.now() < until) {
    assert.ok(Number(reply.headers.get("retry-after")) >= 1, `a 503 without Retry-After: ${reply.error}`);
    await sleep(500);
    reply = await infer(BASE, key, HEAVY.name, input, 10_000);
  }
  assertServed(reply, await references.output(HEAVY, input));
  assert.equal(reply.servedBy, "origin:local");
}

test(
  "the local stack: demo models, the origin's model, tiers, auth errors, restart on the same state",
  { timeout: 2 * START_TIMEOUT_MS + 120_000 },
  async (t) => {
    assert.equal(await portOpen(), false, `port ${PORT} is taken; the test needs it free`);
    assertPrepared(HEAVY);
    const fixtures = demoFixtures();
    let stack = await startStack();
    const keysFile = stack.keysFile;
    const keysText = readFileSync(keysFile, "utf8");
    const keys = readDemoKeys(stack);

    await t.test("the production shape: two workerd processes, the port on the router's own, no wrangler dev", { skip: !existsSync("/proc/self/fd") }, () => {
      const tree = descendants(stack.child.pid!).map((pid) => ({ pid, command: commandLine(pid) }));
      const workerd = tree.filter((p) => /\/workerd\s+serve\b/.test(p.command));
      assert.equal(workerd.length, 2, `workerd processes: ${workerd.map((p) => p.command.slice(0, 80)).join("; ")}`);
      assert.ok(!tree.some((p) => /wrangler\S*\.js\s+dev\b/.test(p.command)), "wrangler dev runs under npm start");
      assert.ok(
        workerd.some((p) => listeningPorts(p.pid).includes(PORT!)),
        "no workerd listens on the stack's port",
      );
    });

    await t.test("writes a 0600 keys file with an admin token and a key per tier", () => {
      for (const name of ["admin", "free", "standard", "premium"] as const) assert.ok(keys[name], `${name} key`);
      assert.equal(statSync(keysFile).mode & 0o777, 0o600);
    });

    await t.test("the demo models answer the fixtures like onnxruntime-node", async () => {
      for (const fixture of fixtures) await assertFixture(fixture, keys.premium);
    });

    await t.test("the origin-placed demo model (mlp-heavy) answers through the local origin like onnxruntime-node", async () => {
      // The upload answered once the origin had it warm: no waiting.
      await assertHeavyServed(keys.premium, 0);
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
      await assertFixture(
        fixtures.find((f) => f.model === "mlp-tiny")!,
        keys.standard,
      );
    });

    await t.test("unload frees the model's session on its host (in the other process), and load warms it again", async () => {
      const sessionsOf = async (model: string) => {
        const response = await call(`/admin/models/${model}`, { key: keys.admin });
        assert.equal(response.status, 200);
        const { hosts } = (await response.json()) as { hosts: { sessions: { model: string }[] }[] };
        return hosts.flatMap((host) => host.sessions).filter((session) => session.model === model).length;
      };
      const mlp = fixtures.find((f) => f.model === "mlp-tiny")!;
      assert.equal(await sessionsOf("mlp-tiny"), 1, "mlp-tiny is warm after its fixture ran");
      const unload = await call("/v2/repository/models/mlp-tiny/unload", { method: "POST", key: keys.admin });
      assert.equal(unload.status, 200, await unload.text());
      assert.equal(await sessionsOf("mlp-tiny"), 0, "the host still holds mlp-tiny's session after its unload");
      const load = await call("/v2/repository/models/mlp-tiny/load", { method: "POST", key: keys.admin });
      assert.equal(load.status, 200, await load.text());
      assert.equal(await sessionsOf("mlp-tiny"), 1, "load did not warm mlp-tiny on its host");
      await assertFixture(mlp, keys.premium);
    });

    const snapshot = await registrySnapshot(keys.admin);
    assert.equal((snapshot as unknown[]).length, REGISTERED.length);
    await stopStack(stack);

    await t.test("a restart reuses the state: same keys, no re-registration, still serving", async () => {
      stack = await startStack();
      assert.equal(readFileSync(keysFile, "utf8"), keysText, "keys file changed on restart");
      assert.doesNotMatch(stack.output(), /uploading|created tenant/);
      assert.deepEqual(await registrySnapshot(keys.admin), snapshot);
      for (const fixture of fixtures.filter((f) => f.model !== "ppocr-rec")) await assertFixture(fixture, keys.premium);
      await assertHeavyServed(keys.premium, ORIGIN_RELOAD_TIMEOUT_MS);
      await stopStack(stack);
    });
  },
);
