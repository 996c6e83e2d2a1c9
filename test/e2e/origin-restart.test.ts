/**
 * @module End to end, origins that die and come back, with real processes on 127.0.0.1 (the edge
 * under `wrangler dev`, two origin servers, each with its own disk cache): an origin killed with
 * requests in flight, every origin down, an origin restarted from its verified cache, and a
 * tampered cache file refused and fetched again. Each test first brings the origins to the state
 * it needs, so any of them can run alone.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Cleanup } from "./harness/cleanup.ts";
import { originHealth, serverTiming, type Reply } from "./harness/http.ts";
import { closedLoop, log, sleep, tally, waitFor } from "./harness/load.ts";
import { assertPrepared, HEAVY, WIDE } from "./harness/models.ts";
import { PoolStack, type OriginId } from "./harness/pool-stack.ts";
import { assertServed, References, rows } from "./harness/tensors.ts";

/** The whole file; hooks inside a describe do not count against it, so each has its own limit. */
const FILE_TIMEOUT_MS = 300_000;
/** The edge, the origins and the uploads. */
const START_TIMEOUT_MS = 150_000;
const STOP_TIMEOUT_MS = 60_000;
const ORIGINS: OriginId[] = ["o1", "o2"];
const DEADLINE_MS = 3_000;
/** A refusal the edge gives at once, not after waiting for a dead origin. */
const PROMPT_REFUSAL_MS = 1_000;

const cleanup = new Cleanup();
const references = new References();
// Released once every process has stopped, whatever happened to them.
cleanup.finally(() => references.release());
let stack: PoolStack;
let heavySha256: string;

const sha256File = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");
const cachedHeavy = (id: OriginId): string => join(stack.cacheDir(id), HEAVY.name, HEAVY.version, `${heavySha256}.onnx`);

/** Runs exactly the origins in `ids`, each serving mlp-heavy: the others are killed, the missing ones started. */
async function runOnly(ids: OriginId[]): Promise<void> {
  for (const id of ORIGINS) if (!ids.includes(id) && stack.isRunning(id)) await stack.killOrigin(id);
  await Promise.all(ids.filter((id) => !stack.isRunning(id)).map((id) => stack.startOrigin(id, [HEAVY])));
}

/** Sends requests until every origin in `ids` has served one through the edge (their breakers closed). */
async function untilServing(ids: OriginId[]): Promise<void> {
  const input = rows(HEAVY.width, 2, 1);
  const served = new Set<string>();
  await closedLoop(
    4,
    20_000,
    async () => {
      const reply = await stack.infer(HEAVY, input, DEADLINE_MS);
      served.add(reply.servedBy);
      if (reply.status !== 200) await sleep(200);
    },
    () => ids.every((id) => served.has(`origin:${id}`)),
  );
  assert.ok(
    ids.every((id) => served.has(`origin:${id}`)),
    `only ${[...served].join(", ")} served within 20 s`,
  );
}

/** Each reply in order: 503s with Retry-After given at once while no origin can serve, then 200s. */
function assertRefusedThenServed(replies: Reply[]): void {
  const firstServed = replies.findIndex((r) => r.status === 200);
  replies.forEach((reply, k) => {
    if (firstServed >= 0 && k >= firstServed) return assert.equal(reply.status, 200, `a ${reply.status} after the first 200: ${reply.error}`);
    assert.equal(reply.status, 503, `${reply.status}: ${reply.error}`);
    assert.ok(Number(reply.headers.get("retry-after")) >= 1, "a 503 without Retry-After");
    assert.ok(reply.elapsedMs < PROMPT_REFUSAL_MS, `the 503 took ${reply.elapsedMs.toFixed(0)} ms`);
  });
}

describe("restarts: origins killed, all down, back from a verified cache", { timeout: FILE_TIMEOUT_MS }, () => {
  before(
    async () => {
      assertPrepared(HEAVY, WIDE);
      stack = await PoolStack.start(cleanup, { label: "restart", origins: ORIGINS });
      heavySha256 = (await stack.upload(HEAVY, { placement: "origin", maxBatch: 64 })).version.sha256;
      await stack.waitWarm(HEAVY, ORIGINS);
      // An auto model: the edge keeps serving it whatever the origins do.
      await stack.upload(WIDE, { placement: "auto", maxBatch: 64 });
    },
    { timeout: START_TIMEOUT_MS },
  );

  after(() => cleanup.run(), { timeout: STOP_TIMEOUT_MS });

  test("SIGKILL of an origin with requests in flight: every request is served, those it held retried on the other, none past its deadline", async () => {
    await runOnly(ORIGINS);
    await untilServing(ORIGINS);
    const input = rows(HEAVY.width, 64, 5);
    const expected = await references.output(HEAVY, input);
    let killedAt = Number.POSITIVE_INFINITY;
    let o1Before = 0;
    const load = closedLoop(4, 3_000, async () => {
      const reply = await stack.infer(HEAVY, input, DEADLINE_MS);
      if (reply.servedBy === "origin:o1" && reply.startedAt + reply.elapsedMs < killedAt) o1Before++;
      return reply;
    });
    await waitFor("o1 serving part of the load", async () => o1Before >= 2, 5_000);
    // Killed while it holds work: its report shows a request queued or running.
    let held: { queued: number; running: number } | undefined;
    await waitFor(
      "o1 holding a request",
      async () => {
        const report = (await originHealth(stack.originUrl("o1"), stack.originToken)).load;
        if (report && report.queued + report.running > 0) held = report;
        return held !== undefined;
      },
      5_000,
    );
    killedAt = performance.now();
    await stack.killOrigin("o1");
    const replies = await load;
    const afterKill = replies.filter((r) => r.startedAt + r.elapsedMs > killedAt);
    const outcome = tally(afterKill, (r) =>
      r.status === 200 ? `200 ${r.servedBy}${/after \d tries/.test(serverTiming(r)) ? " (retried)" : ""}` : String(r.hung ? "hung" : r.status),
    );
    log(`kill: o1 held ${JSON.stringify(held)} at the kill; answers after it: ${JSON.stringify(outcome)}`);
    for (const reply of replies) {
      assert.equal(reply.hung, false, "a request got no answer");
      assertServed(reply, expected);
      assert.ok(reply.elapsedMs <= DEADLINE_MS, `answered after ${reply.elapsedMs.toFixed(0)} ms, deadline ${DEADLINE_MS}`);
    }
    // What o1 held, or was sent before the edge knew it dead, failed there and was served by o2.
    const retried = afterKill.filter((r) => r.servedBy === "origin:o2" && /after 2 tries/.test(serverTiming(r)));
    assert.ok(retried.length >= 1, "no request that failed on the killed origin was retried on the other");
    const later = afterKill.filter((r) => r.startedAt > killedAt + 500);
    assert.ok(later.length > 0 && later.every((r) => r.servedBy === "origin:o2"), "requests after the kill were not served by o2");
  });

  test("every origin down: origin models get 503 with Retry-After at once; auto models stay at the edge", async () => {
    await runOnly([]);
    const replies: Reply[] = [];
    await waitFor(
      "every breaker open",
      async () => {
        const reply = await stack.infer(HEAVY, rows(HEAVY.width, 1, 3), DEADLINE_MS);
        replies.push(reply);
        return /no origin is available/.test(reply.error ?? "");
      },
      10_000,
    );
    assertRefusedThenServed(replies);
    assert.ok(
      replies.every((r) => r.status === 503),
      "served with every origin down",
    );
    log(
      `all down: ${replies.length} requests, 503 in ${replies.map((r) => r.elapsedMs.toFixed(0)).join(", ")} ms; Retry-After ${replies.at(-1)!.headers.get("retry-after")} s`,
    );
    const wideInput = rows(WIDE.width, 16, 2026);
    const auto = await stack.infer(WIDE, wideInput, 2_000);
    assertServed(auto, await references.output(WIDE, wideInput));
    assert.match(auto.servedBy, /^edge:/);
  });

  test("a restarted origin serves again from its verified cache: 503 at once until it is back, then its answers", async () => {
    assert.ok(existsSync(cachedHeavy("o1")), "o1 has no cached mlp-heavy");
    await runOnly([]);
    // Clients keep calling through the restart, as they would.
    const replies: Reply[] = [];
    let servedAt: number | undefined;
    let calling = true;
    const callingDone = (async () => {
      while (calling) {
        const reply = await stack.infer(HEAVY, rows(HEAVY.width, 1, 9), DEADLINE_MS);
        replies.push(reply);
        if (reply.status === 200) {
          servedAt = reply.startedAt;
          return;
        }
        await sleep(200);
      }
    })();
    const restartedAt = performance.now();
    let readyAt = Number.NaN;
    try {
      await stack.startOrigin("o1", [HEAVY]);
      readyAt = performance.now();
      await waitFor("o1 serving through the edge again", async () => servedAt !== undefined, 15_000);
    } finally {
      calling = false;
      await callingDone;
    }
    log(
      `restart: o1 ready ${((readyAt - restartedAt) / 1000).toFixed(1)} s after its start, served through the edge ${((servedAt! - readyAt) / 1000).toFixed(1)} s after ready; ${JSON.stringify(tally(replies, (r) => String(r.status)))}`,
    );
    assertRefusedThenServed(replies);
    assert.equal(replies.at(-1)!.servedBy, "origin:o1");
    const origin = stack.origin("o1");
    assert.equal((await originHealth(origin.url, stack.originToken)).models.find((m) => m.name === HEAVY.name)?.source, "cache");
    assert.ok(
      origin.logs.some((line) => /mlp-heavy@1 ready in .*bytes from cache/.test(line)),
      origin.logs.join("\n"),
    );
    assert.equal(sha256File(cachedHeavy("o1")), heavySha256, "the cached file is not the registry's bytes");
    const input = rows(HEAVY.width, 64, 5);
    assertServed(await stack.infer(HEAVY, input, DEADLINE_MS), await references.output(HEAVY, input));
  });

  test("a tampered cached model is refused and fetched again", async () => {
    assert.ok(existsSync(cachedHeavy("o1")), "o1 has no cached mlp-heavy");
    await runOnly([]);
    const fd = openSync(cachedHeavy("o1"), "r+");
    try {
      writeSync(fd, randomBytes(4096), 0, 4096, 50_000_000);
    } finally {
      closeSync(fd);
    }
    assert.notEqual(sha256File(cachedHeavy("o1")), heavySha256);
    const origin = await stack.startOrigin("o1", [HEAVY]);
    assert.ok(
      origin.logs.some((line) => /refusing the cached .*mlp-heavy.* sha256/.test(line)),
      origin.logs.join("\n"),
    );
    assert.ok(
      origin.logs.some((line) => /mlp-heavy@1 ready in .*bytes from edge/.test(line)),
      origin.logs.join("\n"),
    );
    assert.equal((await originHealth(origin.url, stack.originToken)).models.find((m) => m.name === HEAVY.name)?.source, "edge");
    assert.equal(sha256File(cachedHeavy("o1")), heavySha256, "the fetched cache file does not match the registry's sha256");
    const input = rows(HEAVY.width, 64, 5);
    const reply = await stack.infer(HEAVY, input, DEADLINE_MS);
    assertServed(reply, await references.output(HEAVY, input));
    assert.equal(reply.servedBy, "origin:o1");
  });
});
