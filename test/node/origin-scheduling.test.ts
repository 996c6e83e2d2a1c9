/**
 * The origin's queue through its HTTP API (a real origin process, the dev edge as the only
 * stand-in): `parameters.priority` orders work, `parameters.timeout` is a deadline answered with
 * an early 503 when the predicted backlog cannot meet it and with 504 when higher-priority work
 * pushes a queued request past it. The origin is kept busy with 64-row mlp-heavy runs, as many
 * as its own service-time estimate says make the backlog a test needs, on any machine.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { startDevEdge, type DevEdge } from "../../origin/dev-edge.ts";
import { launchOrigin, type LaunchedOrigin } from "../../origin/launch.ts";
import { encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import { REPO_ROOT } from "../../scripts/models/catalog.ts";
import { prepareModels } from "../../scripts/prepare-models.ts";
import { freePorts } from "../e2e/harness/ports.ts";

const TOKEN = "origin-test-token-2";
// Ports the system picks, so no other test or running stack can be answering on them.
const [edgePort, originPort] = await freePorts(2);
const PORT = { edge: edgePort!, origin: originPort! };
const MODELS_DIR = resolve(REPO_ROOT, ".hotpath/models");
const scratch = mkdtempSync(join(tmpdir(), "hotpath-origin-scheduling-"));

let edge: DevEdge;
let origin: LaunchedOrigin;
/** Predicted milliseconds of one 64-row mlp-heavy run on this machine. */
let run64Ms: number;

before(async () => {
  const manifestPath = join(MODELS_DIR, "manifest.json");
  if (!existsSync(manifestPath) || !readFileSync(manifestPath, "utf8").includes('"mlp-heavy"')) prepareModels();
  edge = await startDevEdge({ port: PORT.edge, token: TOKEN, modelsDir: MODELS_DIR, repoRoot: REPO_ROOT });
  origin = await launchOrigin({
    port: PORT.origin,
    edge: edge.url,
    token: TOKEN,
    models: ["mlp-tiny@1", "mlp-heavy@1"],
    cacheDir: join(scratch, "cache"),
    args: ["--id", "sched"],
  });
  const heavy = (await health()).models.find((m) => m.name === "mlp-heavy")!;
  run64Ms = heavy.serviceTimes.find((s) => s.work === 64 * 1024)?.meanMs ?? 100;
});

after(async () => {
  await origin?.stop();
  await edge?.close();
  rmSync(scratch, { recursive: true, force: true });
});

interface Health {
  load: { queued: number; running: number; backlogMs: number; waitAheadMs: Record<string, number> };
  counters: { cancelled: number };
  models: { name: string; outstanding: number; serviceTimes: { work: number; meanMs: number }[] }[];
}

async function health(): Promise<Health> {
  return (await (await fetch(`${origin.url}/v2/health/ready`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Health;
}

interface Outcome {
  status: number;
  ms: number;
  retryAfter: string | null;
}

/** One request of `rows` rows (binary in and out); resolves with its status and how long it took. */
async function send(
  model: "mlp-tiny" | "mlp-heavy",
  rows: number,
  parameters: Record<string, unknown>,
  tenant = "t1",
  signal = AbortSignal.timeout(30_000),
): Promise<Outcome> {
  const width = model === "mlp-tiny" ? 16 : 1024;
  const { body, headerLength } = encodeInferRequest(
    { inputs: [{ name: "input", datatype: "FP32", shape: [rows, width], data: new Float32Array(rows * width).fill(0.25) }], binaryByDefault: true, parameters },
    { binary: true },
  );
  const started = performance.now();
  const response = await fetch(`${origin.url}/v2/models/${model}/infer`, {
    method: "POST",
    body,
    headers: { authorization: `Bearer ${TOKEN}`, "inference-header-content-length": String(headerLength), "x-hotpath-tenant": tenant },
    signal,
  });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started, retryAfter: response.headers.get("retry-after") };
}

/**
 * Queues 64-row runs at priority 1 (nothing merges with them: max batch 64) until the origin
 * predicts at least `ms` of work ahead, checking its own estimate between sends, so the origin is
 * as busy as asked however fast this machine is and whatever else runs on it.
 */
async function busyFor(ms: number): Promise<{ done: Promise<Outcome[]> }> {
  const sent: Promise<Outcome>[] = [];
  let group = Math.max(1, Math.ceil(ms / run64Ms / 2));
  while (sent.length < 60) {
    for (let k = 0; k < group && sent.length < 60; k++) sent.push(send("mlp-heavy", 64, { priority: 1, timeout: 30_000_000 }));
    for (let i = 0; i < 10; i++) {
      if ((await health()).load.backlogMs >= ms) return { done: Promise.all(sent) };
      await new Promise((r) => setTimeout(r, 5));
    }
    // The origin drains what a group brought before the next is sent (its runs were quicker than
    // the first estimate, measured on a busier machine): send more at once.
    group *= 2;
  }
  throw new Error(`60 runs of 64 rows did not make ${ms} ms of backlog`);
}

/** Two and a half of the scheduler's default busy-share windows (2 s): a share decays to under a tenth. */
const SHARE_DECAY_MS = 5_000;

/** Waits (bounded) until `model` has a request queued or running on the origin. */
async function untilOutstanding(model: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await health()).models.find((m) => m.name === model)!.outstanding > 0) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`no ${model} request reached the origin`);
}

describe("origin scheduling", () => {
  test("a lower parameters.priority number runs first", async () => {
    const busy = await busyFor(400);
    const order: string[] = [];
    const tag = (label: string, outcome: Promise<Outcome>) => outcome.then((o) => (order.push(label), o));
    // Lows are sent first: arrival order must not matter, only priority.
    const lows = [0, 1, 2].map((k) => tag(`low${k}`, send("mlp-heavy", 64, { priority: 3 }, `tenant-${k}`)));
    const highs = [0, 1, 2].map((k) => tag(`high${k}`, send("mlp-heavy", 64, { priority: 2 }, `tenant-${k}`)));
    const outcomes = await Promise.all([busy.done, ...lows, ...highs]);
    assert.ok(
      outcomes.flat().every((o) => o.status === 200),
      JSON.stringify(outcomes),
    );
    assert.deepEqual(
      order.slice(0, 3).map((l) => l.slice(0, 4)),
      ["high", "high", "high"],
      `completion order ${order.join(", ")}`,
    );
  });

  test("parameters.timeout: 503 at once when the backlog cannot meet it, 504 at the deadline when pushed past it", async () => {
    const busy = await busyFor(600);
    const backlogMs = (await health()).load.backlogMs;

    // Early refusal: far more work is queued ahead than the third of it this request allows.
    const early = await send("mlp-heavy", 1, { priority: 1, timeout: Math.round(backlogMs / 3) * 1000 });
    assert.equal(early.status, 503);
    assert.ok(early.retryAfter !== null && Number(early.retryAfter) >= 1, "503 carries Retry-After");
    assert.ok(early.ms < backlogMs / 3, `refused after ${early.ms.toFixed(0)} ms, before its ${(backlogMs / 3).toFixed(0)} ms deadline`);

    // Admitted (its wait fits its deadline), then overtaken by priority-1 work until it cannot.
    // Right after the work above, priority 1 has had the whole thread, so a priority-3 wait is
    // stretched tenfold (more priority-1 work is expected): let that share decay first, then
    // queue a little priority-1 work for it to wait behind.
    assert.ok((await busy.done).every((o) => o.status === 200));
    await new Promise((r) => setTimeout(r, SHARE_DECAY_MS));
    const ahead = await busyFor(200);
    const timeoutMs = (await health()).load.waitAheadMs["3"]! + 150;
    const late = send("mlp-tiny", 1, { priority: 3, timeout: timeoutMs * 1000 });
    await untilOutstanding("mlp-tiny");
    const overtaking = await busyFor(timeoutMs + 300);
    const outcome = await late;
    assert.equal(outcome.status, 504);
    // At its deadline, not when the work ahead of it is done (300 ms or more later).
    assert.ok(outcome.ms >= timeoutMs - 5 && outcome.ms < timeoutMs + 250, `504 after ${outcome.ms.toFixed(0)} ms for a ${timeoutMs.toFixed(0)} ms deadline`);
    const rest = [...(await ahead.done), ...(await overtaking.done)];
    assert.ok(
      rest.every((o) => o.status === 200),
      "the work that overtook it all ran",
    );
  });

  test("a client that goes away has its queued work dropped", async () => {
    const busy = await busyFor(300);
    const before = (await health()).counters.cancelled;
    const controller = new AbortController();
    const gone = send("mlp-tiny", 1, { priority: 3 }, "t1", controller.signal).catch((error: Error) => error.name);
    await untilOutstanding("mlp-tiny");
    controller.abort();
    assert.equal(await gone, "AbortError");
    for (let i = 0; i < 200 && (await health()).counters.cancelled === before; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal((await health()).counters.cancelled, before + 1, "the origin dropped it from its queue");
    assert.ok((await busy.done).every((o) => o.status === 200));
  });
});
