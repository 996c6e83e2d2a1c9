/**
 * @module End to end: the variants demo on the stack `npm start` runs (scripts/start.ts as a user
 * runs it, with its local origin). mlp-heavy (fp32, 101 MB) runs on the origin; start.ts also
 * registers its int8 copy as the edge variant `int8`. With the origin up, standard requests run
 * there unmarked and a request pinning `int8` runs at the edge, giving what onnxruntime-node gives
 * on the int8 file, within the bound recorded at its upload of the fp32 answer. Then the origin
 * process is killed: standard and free requests are still served, on the variant and marked
 * degraded; premium gets 503 with Retry-After unless it asks `auto`; /metrics counts each one.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { AdminClient, type VariantRecord } from "../../scripts/lib/admin-client.ts";
import { DEMO_VARIANT_MAX_ERROR } from "../../scripts/lib/demo-models.ts";
import { alive, descendants, listeningPorts, REPO_ROOT } from "../../scripts/lib/wrangler-dev.ts";
import { parsePrometheusText, sampleSum } from "../workerd/prometheus-text.ts";
import { Cleanup } from "./harness/cleanup.ts";
import { portOpen, readDemoKeys, START_TIMEOUT_MS, startDemoStack, STOP_TIMEOUT_MS, stopDemoStack, type DemoStack } from "./harness/demo-stack.ts";
import { call, errorText } from "./harness/http.ts";
import { waitFor } from "./harness/load.ts";
import { assertPrepared, HEAVY, HEAVY_INT8 } from "./harness/models.ts";
import { freePorts } from "./harness/ports.ts";
import { maxDiff, References, rows, TOLERANCE } from "./harness/tensors.ts";

const HOST = "127.0.0.1";
const [PORT, ORIGIN_PORT] = await freePorts(2, HOST);
/** One row: int8's activation scale is taken over the whole input, so the reference must see the same rows the edge ran. */
const INPUT = rows(HEAVY.width, 1, 7);
const DEGRADED_LABELS = { model: HEAVY.name, version: HEAVY.version, variant: "int8" };

const scratch = mkdtempSync(join(tmpdir(), "hotpath-e2e-variants-"));
const cleanup = new Cleanup();
const references = new References();
after(
  async () => {
    await cleanup.run();
    await references.release();
  },
  { timeout: STOP_TIMEOUT_MS },
);
cleanup.finally(() => rmSync(scratch, { recursive: true, force: true }));

interface Answer {
  status: number;
  headers: Headers;
  output?: number[];
  error?: string;
}

/** One OIP JSON inference of mlp-heavy (`parameters`: a pinned variant, or `auto`). */
async function ask(stack: DemoStack, key: string, parameters?: Record<string, string>): Promise<Answer> {
  const body = JSON.stringify({ inputs: [{ ...INPUT, data: Array.from(INPUT.data as Float32Array) }], ...(parameters ? { parameters } : {}) });
  const response = await call(stack.url, `/v2/models/${HEAVY.name}/infer`, { method: "POST", key, body, timeoutMs: 15_000 });
  const text = await response.text();
  if (response.status !== 200) return { status: response.status, headers: response.headers, error: errorText(text) };
  const parsed = JSON.parse(text) as { outputs: { name: string; data: number[] }[] };
  return { status: 200, headers: response.headers, output: parsed.outputs.find((o) => o.name === "output")?.data };
}

/** Served at the edge on the int8 copy, as onnxruntime-node computes it on the int8 file. */
async function assertOnInt8(answer: Answer, what: string): Promise<void> {
  assert.equal(answer.status, 200, `${what}: ${answer.status} ${answer.error}`);
  assert.equal(answer.headers.get("x-hotpath-variant"), "int8", what);
  assert.match(answer.headers.get("x-served-by") ?? "", /^edge:/, what);
  const diff = maxDiff(answer.output, await references.output(HEAVY_INT8, INPUT));
  assert.ok(diff <= TOLERANCE, `${what}: max |diff| ${diff} against onnxruntime-node on the int8 file`);
}

/** Served on the variant because the default could not be, and marked so. */
async function assertDegraded(answer: Answer, what: string): Promise<void> {
  await assertOnInt8(answer, what);
  assert.match(answer.headers.get("server-timing") ?? "", /variant;desc="int8"/, what);
  assert.match(answer.headers.get("server-timing") ?? "", /degraded;desc="(unavailable|refused|deadline)"/, what);
}

async function degradedTotal(admin: AdminClient): Promise<number> {
  return sampleSum(parsePrometheusText(await admin.getText("/metrics")), "hotpath_degraded_total", DEGRADED_LABELS);
}

/** The local origin: the one process under start.ts listening on the origin's port. */
function originPid(stack: DemoStack): number {
  const pids = descendants(stack.child.pid!).filter((pid) => listeningPorts(pid).includes(ORIGIN_PORT!));
  assert.equal(pids.length, 1, `processes under start.ts listening on ${ORIGIN_PORT}: ${pids.join(", ")}`);
  return pids[0]!;
}

test(
  "the variants demo: mlp-heavy on the origin, its int8 copy at the edge, served degraded once the origin is killed",
  { timeout: START_TIMEOUT_MS + 180_000, skip: !existsSync("/proc/self/fd") },
  async (t) => {
    assertPrepared(HEAVY, HEAVY_INT8);
    const stack = await startDemoStack(cleanup, { host: HOST, port: PORT!, originPort: ORIGIN_PORT!, scratch });
    const keys = readDemoKeys(stack);
    const admin = new AdminClient({ baseUrl: stack.url, adminToken: keys.admin });
    let variant: VariantRecord | undefined;

    await t.test("start.ts registered the prepared int8 copy as mlp-heavy@1's edge variant, within its bound, and says so in the banner", async () => {
      const manifest = JSON.parse(readFileSync(join(REPO_ROOT, ".hotpath/models/manifest.json"), "utf8")) as {
        name: string;
        variants?: { sha256: string }[];
      }[];
      const prepared = manifest.find((m) => m.name === HEAVY.name)?.variants?.[0];
      variant = (await admin.getModel(HEAVY.name))?.versions.find((v) => v.version === HEAVY.version)?.variants?.find((v) => v.variant === "int8");
      assert.ok(variant && prepared, `no int8 variant registered:\n${stack.output()}`);
      assert.deepEqual([variant.placement, variant.sha256, variant.bytes], ["edge", prepared.sha256, statSync(HEAVY_INT8.file).size]);
      assert.equal(variant.maxError, DEMO_VARIANT_MAX_ERROR);
      assert.ok(variant.accuracy.maxAbsError > 0 && variant.accuracy.maxAbsError <= DEMO_VARIANT_MAX_ERROR, JSON.stringify(variant.accuracy));
      assert.match(stack.output(), /mlp-heavy has an int8 copy .* at the edge/);
      const requestFile = /-d @(\S+mlp-heavy-int8\.json)/.exec(stack.output())?.[1];
      assert.ok(requestFile, "the banner's curl line for the variant");
      assert.deepEqual(JSON.parse(readFileSync(resolve(REPO_ROOT, requestFile), "utf8")).parameters, { variant: "int8" });
    });

    await t.test("with the origin up: standard runs on the origin unmarked; a request pinning int8 runs at the edge within the recorded bound", async () => {
      const standard = await ask(stack, keys.standard);
      assert.equal(standard.status, 200, standard.error);
      assert.equal(standard.headers.get("x-served-by"), "origin:local");
      assert.equal(standard.headers.get("x-hotpath-variant"), null);
      const fp32 = await references.output(HEAVY, INPUT);
      assert.ok(maxDiff(standard.output, fp32) <= TOLERANCE, "the origin's answer is onnxruntime-node's on the fp32 file");

      const pinned = await ask(stack, keys.premium, { variant: "int8" });
      await assertOnInt8(pinned, "premium pinning int8");
      assert.doesNotMatch(pinned.headers.get("server-timing") ?? "", /degraded/, "a pinned variant is not a degradation");
      const error = maxDiff(pinned.output, fp32);
      assert.ok(error > 0 && error <= variant!.maxError!, `int8 is off the fp32 answer by ${error}; its recorded bound is ${variant!.maxError}`);
    });

    await t.test("with the origin killed: standard and free are served degraded, premium gets 503 unless it asks auto, and it is counted", async () => {
      const pid = originPid(stack);
      process.kill(pid, "SIGKILL");
      await waitFor("the origin gone", async () => !alive(pid) && !(await portOpen(HOST, ORIGIN_PORT!)), 10_000);
      const before = await degradedTotal(admin);

      await assertDegraded(await ask(stack, keys.standard), "standard");
      await assertDegraded(await ask(stack, keys.free), "free");
      const premium = await ask(stack, keys.premium);
      assert.equal(premium.status, 503, `premium without auto: ${premium.status} ${premium.error}`);
      assert.ok(Number(premium.headers.get("retry-after")) >= 1, "a 503 carries Retry-After");
      assert.equal(premium.headers.get("x-hotpath-variant"), null);
      await assertDegraded(await ask(stack, keys.premium, { variant: "auto" }), "premium asking auto");

      // Each router isolate flushes its counts about once a second; a scrape flushes its own.
      await waitFor("hotpath_degraded_total counts the three", async () => (await degradedTotal(admin)) - before >= 3, 10_000);
      assert.equal((await degradedTotal(admin)) - before, 3);
    });

    // start.ts outlives its origin and still stops cleanly, leaving nothing running.
    await stopDemoStack(stack);
  },
);
