/**
 * The end-to-end harness's own guarantees, with real processes where they matter: launchOrigin
 * does not take another server on its port for its origin, the Cleanup stops what was starting
 * when it ran and what starts after, and freePorts hands out distinct ports nobody listens on.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { launchOrigin } from "../../origin/launch.ts";
import { Cleanup } from "../e2e/harness/cleanup.ts";
import { freePorts } from "../e2e/harness/ports.ts";

const TOKEN = "harness-test-token";
const scratch = mkdtempSync(join(tmpdir(), "hotpath-e2e-harness-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("launchOrigin", () => {
  test("refuses a port another server answers ready on, and says the child could not listen there", { timeout: 30_000 }, async () => {
    // A stranger that answers every health check with 200: polling alone would take it for the origin.
    const stranger = createHttpServer((_, res) => res.end('{"ready":true,"models":[]}'));
    await new Promise<void>((resolve) => stranger.listen(0, "127.0.0.1", resolve));
    const { port } = stranger.address() as AddressInfo;
    const launched = launchOrigin({ port, edge: "http://127.0.0.1:9", token: TOKEN, models: [], cacheDir: join(scratch, "taken"), readyTimeoutMs: 20_000 });
    try {
      await assert.rejects(launched, /exited \(1\) before it listened on 127\.0\.0\.1:\d+:[\s\S]*EADDRINUSE/);
    } finally {
      // Taken in by the stranger, it would get the port once the stranger closes: stop it.
      await launched.then(
        (origin) => origin.stop(),
        () => undefined,
      );
      stranger.closeAllConnections();
      await new Promise<void>((resolve) => stranger.close(() => resolve()));
    }
  });

  test("resolves once its own child listens on the port it was given", { timeout: 30_000 }, async () => {
    const [port] = await freePorts(1);
    const origin = await launchOrigin({
      port: port!,
      edge: "http://127.0.0.1:9",
      token: TOKEN,
      models: [],
      cacheDir: join(scratch, "free"),
      readyTimeoutMs: 20_000,
    });
    try {
      assert.equal(await origin.listening, port);
      assert.equal(origin.url, `http://127.0.0.1:${port}`);
    } finally {
      assert.equal(await origin.stop(), 0);
    }
  });
});

describe("Cleanup", () => {
  /** A stand-in process: started after `startMs`, and a record of whether it was stopped. */
  const fakeProcess = (startMs: number) => {
    const process = { stopped: false };
    const started = new Promise<typeof process>((resolve) => setTimeout(() => resolve(process), startMs));
    return { process, started, stop: async (p: typeof process) => void (p.stopped = true) };
  };

  test("stops what started, what was still starting when it ran, and what starts after; then runs its final steps", async () => {
    const cleanup = new Cleanup();
    const ready = fakeProcess(0);
    const slow = fakeProcess(50);
    const steps: string[] = [];
    cleanup.finally(() => void steps.push(`first registered, stopped: ${ready.process.stopped && slow.process.stopped}`));
    cleanup.finally(() => void steps.push("last registered"));
    await cleanup.start(ready.started, ready.stop);
    const slowStart = cleanup.start(slow.started, slow.stop);
    await cleanup.run();
    assert.equal(ready.process.stopped, true);
    assert.equal(slow.process.stopped, true, "a start in progress when cleanup ran was left running");
    await assert.rejects(slowStart, /cleanup began/);
    assert.deepEqual(steps, ["last registered", "first registered, stopped: true"]);
    let lateStopped = false;
    assert.throws(() => cleanup.add(async () => void (lateStopped = true)), /cleanup has begun/);
    assert.equal(lateStopped, true, "something started after cleanup ran was left running");
  });

  test("aborts its signal, so a start that takes one gives up", async () => {
    const cleanup = new Cleanup();
    const aborted = new Promise<void>((resolve) => cleanup.signal.addEventListener("abort", () => resolve()));
    await cleanup.run();
    await aborted;
  });
});

test("freePorts: distinct ports that nobody listens on", async () => {
  const ports = await freePorts(8);
  assert.equal(new Set(ports).size, ports.length);
  for (const port of ports) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
