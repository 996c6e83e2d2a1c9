/**
 * The warm-session cache: one load for concurrent first calls, failed loads retried, sessions
 * counted by what they hold (warmSessionBytes), loads admitted against the budget (idle sessions
 * released least recently used first, refused when the rest are in use), idle sessions found.
 */
import { describe, expect, it } from "vitest";
import type { HttpError } from "../../protocol/errors.ts";
import type { ModelSession } from "../../protocol/model-session.ts";
import { warmSessionBytes } from "../../protocol/session-memory.ts";
import { SessionCache } from "../../durable-objects/model-host/session-cache.ts";

function fakeSession(log: string[], name: string): ModelSession {
  return {
    inputs: [],
    outputs: [],
    batchAxes: undefined,
    run: async () => [],
    release: async () => {
      log.push(`release ${name}`);
    },
  };
}

const MB = 1024 * 1024;
/** A 10 MB model file, and what its warm session is counted as. */
const FILE = 10 * MB;
const WARM = warmSessionBytes(FILE);

/** Loads `name` into the cache (logging the load) and runs nothing on it. */
function touch(cache: SessionCache, log: string[], name: string): Promise<void> {
  const load = async () => {
    log.push(`load ${name}`);
    return fakeSession(log, name);
  };
  return cache.with(`${name}@1`, FILE, load, async () => undefined);
}

async function refusal(promise: Promise<unknown>): Promise<HttpError> {
  const error = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as HttpError | undefined;
  expect(error, "refused").toBeDefined();
  return error!;
}

const settle = () => new Promise((r) => setTimeout(r, 10));

describe("SessionCache", () => {
  it("loads once for concurrent first calls", async () => {
    const log: string[] = [];
    const cache = new SessionCache(100 * MB);
    let loads = 0;
    const load = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 20));
      return fakeSession(log, "a");
    };
    await Promise.all(Array.from({ length: 10 }, () => cache.with("a@1", MB, load, async () => undefined)));
    expect(loads).toBe(1);
    expect(cache.has("a@1")).toBe(true);
  });

  it("forgets a failed load so the next call retries", async () => {
    const log: string[] = [];
    const cache = new SessionCache(100 * MB);
    let attempt = 0;
    const load = async () => {
      attempt++;
      if (attempt === 1) throw new Error("R2 hiccup");
      return fakeSession(log, "a");
    };
    const first = await Promise.allSettled([cache.with("a@1", MB, load, async () => "ran"), cache.with("a@1", MB, load, async () => "ran")]);
    expect(first.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(cache.has("a@1")).toBe(false);
    expect(cache.heldBytes(), "a failed load holds nothing").toBe(0);
    expect(await cache.with("a@1", MB, load, async () => "ran")).toBe("ran");
    expect(attempt).toBe(2);
  });

  it("counts each session as what it holds warm, not its file", async () => {
    const log: string[] = [];
    const cache = new SessionCache(100 * MB);
    await touch(cache, log, "a");
    await touch(cache, log, "b");
    expect(cache.info().map((i) => [i.fileBytes, i.memoryBytes])).toEqual([
      [FILE, WARM],
      [FILE, WARM],
    ]);
    expect(cache.heldBytes()).toBe(2 * WARM);
  });

  it("releases the least recently used idle session before a load that needs its room", async () => {
    const log: string[] = [];
    let clock = 0;
    const cache = new SessionCache(2 * WARM + MB, () => clock++);
    await touch(cache, log, "a");
    await touch(cache, log, "b");
    await touch(cache, log, "a"); // a is now more recent than b
    await touch(cache, log, "c");
    await settle();
    expect(log, "b released before c's load started, a kept").toEqual(["load a", "load b", "release b", "load c"]);
    expect(
      cache
        .info()
        .map((i) => i.key)
        .sort(),
    ).toEqual(["a@1", "c@1"]);
    expect(cache.heldBytes()).toBe(2 * WARM);
  });

  it("refuses a load, releasing nothing and loading nothing, when the sessions in use leave no room", async () => {
    const log: string[] = [];
    const cache = new SessionCache(2 * WARM + MB);
    await touch(cache, log, "a");
    let finish!: () => void;
    const running = cache.with(
      "b@1",
      FILE,
      async () => fakeSession(log, "b"),
      () => new Promise<void>((r) => (finish = r)),
    );
    await settle();
    // Idle a alone would make room for a 10 MB file, not for a 20 MB one next to busy b.
    const error = await refusal(
      cache.with(
        "c@1",
        2 * FILE,
        async () => fakeSession(log, "c"),
        async () => undefined,
      ),
    );
    expect(error.status).toBe(503);
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(error.message).toMatch(/^no room to load the model on this host now/);
    expect(log, "nothing released for a load that could not fit anyway").toEqual(["load a"]);
    expect(cache.info().map((i) => i.key)).toEqual(["a@1", "b@1"]);
    finish();
    await running;
    // Once b is idle, releasing a and b makes room.
    await cache.with(
      "c@1",
      2 * FILE,
      async () => fakeSession(log, "c"),
      async () => undefined,
    );
    await settle();
    expect(log).toEqual(["load a", "release a", "release b"]);
  });

  it("counts a session from the moment its load is admitted: one still loading leaves no room", async () => {
    const log: string[] = [];
    const cache = new SessionCache(WARM + MB);
    let loaded!: () => void;
    const loading = cache.with(
      "a@1",
      FILE,
      async () => {
        await new Promise<void>((r) => (loaded = r));
        return fakeSession(log, "a");
      },
      async () => undefined,
    );
    await settle();
    expect(cache.heldBytes()).toBe(WARM);
    expect((await refusal(touch(cache, log, "b"))).status).toBe(503);
    loaded();
    await loading;
    await touch(cache, log, "b"); // a is idle now: released for b
    await settle();
    expect(log).toEqual(["release a", "load b"]);
  });

  it("refuses a model over the whole budget at once, without loading it", async () => {
    const log: string[] = [];
    const cache = new SessionCache(WARM - 1);
    const error = await refusal(touch(cache, log, "a"));
    expect(error.status).toBe(503);
    expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(error.message).toMatch(/^the model needs about 22\.0 MB warm, more than a model host's 22\.0 MB$/);
    expect(log).toEqual([]);
    expect(cache.heldBytes()).toBe(0);
  });

  it("drop waits for the run, and its session counts until it is released", async () => {
    const log: string[] = [];
    const cache = new SessionCache(2 * WARM);
    let finish!: () => void;
    const running = cache.with(
      "a@1",
      FILE,
      async () => fakeSession(log, "a"),
      () => new Promise<void>((r) => (finish = r)),
    );
    await settle();
    const dropped = cache.drop("a@1");
    await settle();
    expect(log).toEqual([]);
    expect(cache.heldBytes(), "still held by its run").toBe(WARM);
    finish();
    await running;
    expect(await dropped).toBe(true);
    expect(log).toEqual(["release a"]);
    expect(cache.heldBytes()).toBe(0);
  });

  it("finds the sessions unused since a time, never one in use, and when the next one falls due", async () => {
    const log: string[] = [];
    let clock = 1000;
    const cache = new SessionCache(100 * MB, () => clock);
    await touch(cache, log, "old");
    clock = 2000;
    await touch(cache, log, "recent");
    let finish!: () => void;
    const running = cache.with(
      "busy@1",
      FILE,
      async () => fakeSession(log, "busy"),
      () => new Promise<void>((r) => (finish = r)),
    );
    await settle();
    clock = 5000;
    expect(cache.nextIdleAt(1500), "old falls due first").toBe(2500);
    expect(cache.releaseUnusedSince(1500)).toEqual(["old@1"]);
    expect(cache.releaseUnusedSince(4000)).toEqual(["recent@1"]);
    expect(cache.nextIdleAt(1500), "one in use counts as used now").toBe(6500);
    expect(cache.releaseUnusedSince(9000), "never one in use").toEqual([]);
    finish();
    await running;
    await settle();
    expect(log.filter((l) => l.startsWith("release"))).toEqual(["release old", "release recent"]);
    expect(cache.nextIdleAt(1500)).toBe(6500);
    expect(cache.releaseUnusedSince(5000)).toEqual(["busy@1"]);
    expect(cache.nextIdleAt(1500), "nothing held").toBeUndefined();
  });
});
