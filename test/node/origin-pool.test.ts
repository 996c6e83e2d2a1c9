/**
 * The edge's view of the origin pool, in Node against real HTTP servers on 127.0.0.1: active
 * health checks (ready, not ready, unreachable, back again), which origins are usable, the
 * choice by least expected wait for a priority, reading whatever load an origin reports, and which
 * ORIGINS the pool refuses (plain http off loopback: the ORIGIN_TOKEN would travel in clear).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, test } from "node:test";
import { CHECK_DOWN_EVERY_MS, CHECK_EVERY_MS, checkOriginsNow, checkOriginsWhenDue } from "../../router/origin-pool/health-check.ts";
import { loadFrom } from "../../router/origin-pool/origin-load.ts";
import { parseOrigins } from "../../protocol/origins-var.ts";
import { chooseOrigin, expectedWaitMs, originPool, usable, type PoolEnv } from "../../router/origin-pool/pool.ts";
import { freePorts } from "../e2e/harness/ports.ts";

const HOST = "127.0.0.1";
// A port the system picks, so no other test or running stack can be answering on it.
const [PORT] = await freePorts(1);
let status = 200;
/** What the ready body lists, as our origin's does; undefined: no list (as Triton). */
let models: { name: string; version: string; state: string }[] | undefined;
let checks = 0;
let server: Server;

before(async () => {
  server = createServer((req, res) => {
    if (req.url !== "/v2/health/ready" || req.headers.authorization !== "Bearer origin-secret") {
      res.writeHead(401).end();
      return;
    }
    checks++;
    const body =
      status === 200
        ? { ready: true, load: { queued: 3, running: 1, backlogMs: 120, waitAheadMs: { 1: 40, 3: 120 }, gapMs: 1 } }
        : { error: "not ready: mlp-heavy@1 loading", ...(models ? { models } : {}) };
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(PORT, HOST, resolve));
});
after(() => server.close());

const HEAVY = { name: "mlp-heavy", version: "1" };
const env = (origins: { id: string; url: string }[]): PoolEnv => ({ ORIGINS: JSON.stringify(origins), ORIGIN_TOKEN: "origin-secret" });

describe("active health checks", () => {
  const pool = env([
    { id: "up", url: `http://${HOST}:${PORT}` },
    { id: "gone", url: `http://${HOST}:1` },
  ]);

  test("a ready origin is usable and its reported load is kept; an unreachable one is down", async () => {
    status = 200;
    await checkOriginsNow(pool);
    const [up, gone] = originPool(pool);
    assert.equal(up!.health.state, "ready");
    assert.equal(up!.load?.waitAheadMs[1], 40);
    assert.ok(usable(up!));
    assert.deepEqual([gone!.health.state, gone!.health.reason], ["down", "unreachable"]);
    assert.equal(usable(gone!), false);
    assert.equal(chooseOrigin(originPool(pool), new Set(), HEAVY, 1)?.config.id, "up");
  });

  test("not ready takes it out of the choice, with the reason; ready again brings it back with a fresh round trip", async () => {
    const [up] = originPool(pool);
    status = 503;
    await checkOriginsNow(pool);
    assert.equal(up!.health.state, "down");
    assert.match(up!.health.reason ?? "", /not ready \(503: not ready: mlp-heavy@1 loading\)/);
    assert.equal(chooseOrigin(originPool(pool), new Set(), HEAVY, 1), undefined);
    up!.roundTripMs = 900; // slow before it went down
    status = 200;
    await checkOriginsNow(pool);
    assert.equal(up!.health.state, "ready");
    assert.ok(up!.roundTripMs < 100, `round trip still ${up!.roundTripMs} ms`);
  });

  test("not ready as a whole but listing what it serves: requests for those still go there, not for the one loading", async () => {
    const [up] = originPool(pool);
    status = 503;
    models = [
      { name: "mlp-tiny", version: "1", state: "ready" },
      { name: "mlp-heavy", version: "1", state: "loading" },
    ];
    await checkOriginsNow(pool);
    models = undefined;
    assert.equal(up!.health.state, "partial");
    assert.equal(chooseOrigin(originPool(pool), new Set(), { name: "mlp-tiny", version: "1" }, 1)?.config.id, "up");
    assert.equal(chooseOrigin(originPool(pool), new Set(), HEAVY, 1), undefined);
    assert.ok(usable(up!), "still asked to load models");
    status = 200;
    await checkOriginsNow(pool);
    assert.equal(chooseOrigin(originPool(pool), new Set(), HEAVY, 1)?.config.id, "up");
  });

  test("checks run in the background only when due: every 5 s when ready, every second when down", async () => {
    const [up] = originPool(pool);
    const started: Promise<unknown>[] = [];
    const before = checks;
    const at = up!.health.checkedAt;
    checkOriginsWhenDue(pool, (p) => started.push(p), at + CHECK_DOWN_EVERY_MS + 100);
    assert.equal(started.length, 1, "only the down origin is due");
    await Promise.all(started);
    checkOriginsWhenDue(pool, (p) => started.push(p), at + CHECK_EVERY_MS + 100);
    await Promise.all(started);
    assert.equal(checks, before + 1, "the ready origin was checked once, when due");
  });
});

describe("choice and load", () => {
  test("least expected wait for the request's priority, from the report less the time since", () => {
    const pool = env([
      { id: "a", url: "http://127.0.0.1:9" },
      { id: "b", url: "http://127.0.0.1:10" },
    ]);
    const [a, b] = originPool(pool);
    const now = 10_000_000;
    Object.assign(a!, { load: loadFrom({ backlogMs: 500, waitAheadMs: { 1: 10, 3: 500 } }), loadAt: now });
    Object.assign(b!, { load: loadFrom({ backlogMs: 200, waitAheadMs: { 1: 200, 3: 200 } }), loadAt: now });
    assert.equal(chooseOrigin(originPool(pool), new Set(), HEAVY, 1, now)?.config.id, "a", "premium waits 10 ms on a");
    assert.equal(chooseOrigin(originPool(pool), new Set(), HEAVY, 3, now)?.config.id, "b", "free waits for everything on a");
    assert.equal(expectedWaitMs(a!, 3, now + 300) - expectedWaitMs(a!, 3, now), -300, "the backlog drains with time");
  });

  test("a load report that is missing, partial or not numbers counts as zeros", () => {
    assert.equal(loadFrom("nonsense"), undefined);
    assert.deepEqual(loadFrom({ queued: "many", backlogMs: -4, waitAheadMs: { x: 5, 2: Number.NaN, 1: 7 } }), {
      queued: 0,
      running: 0,
      backlogMs: 0,
      waitAheadMs: { 1: 7, 2: 0 },
      gapMs: 0,
    });
  });
});

describe("the ORIGINS var", () => {
  const one = (url: string) => JSON.stringify([{ id: "o", url }]);

  test("plain http is refused off loopback, with an error that says why; https anywhere and http on loopback are taken", () => {
    for (const url of ["http://gpu-1.example.com:8000", "http://10.0.0.5", "http://127.0.0.1.example.com", "http://[::2]:80"]) {
      assert.throws(() => parseOrigins(one(url)), /ORIGINS\[0\] \(o\): http:\/\/ is allowed only on loopback .*ORIGIN_TOKEN would travel in clear/, url);
    }
    for (const url of ["https://gpu-1.example.com", "http://127.0.0.1:8000/", "http://127.3.4.5", "http://localhost:9", "http://[::1]:8000"]) {
      assert.equal(parseOrigins(one(url))[0]!.url, url.replace(/\/$/, ""), url);
    }
  });

  test("a bad ORIGINS fails every request, not only the first", () => {
    const bad: PoolEnv = { ORIGINS: one("http://gpu-1.example.com"), ORIGIN_TOKEN: "origin-secret" };
    originPool(env([{ id: "before", url: "http://127.0.0.1:9" }]));
    assert.throws(() => originPool(bad), /allowed only on loopback/);
    assert.throws(() => originPool(bad), /allowed only on loopback/, "the previous pool is not used instead");
  });
});
