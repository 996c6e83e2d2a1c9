/** The warm-session cache: one load for concurrent first calls, failed loads retried, LRU eviction. */
import { describe, expect, it } from "vitest";
import type { ModelSession } from "../../protocol/model-session.ts";
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
    expect(await cache.with("a@1", MB, load, async () => "ran")).toBe("ran");
    expect(attempt).toBe(2);
  });

  it("evicts the least recently used idle session over budget", async () => {
    const log: string[] = [];
    let clock = 0;
    const cache = new SessionCache(25 * MB, () => clock++);
    for (const name of ["a", "b"])
      await cache.with(
        `${name}@1`,
        10 * MB,
        async () => fakeSession(log, name),
        async () => undefined,
      );
    await cache.with(
      "a@1",
      10 * MB,
      async () => fakeSession(log, "a2"),
      async () => undefined,
    ); // a is now more recent than b
    await cache.with(
      "c@1",
      10 * MB,
      async () => fakeSession(log, "c"),
      async () => undefined,
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(log).toEqual(["release b"]);
    expect(
      cache
        .info()
        .map((i) => i.key)
        .sort(),
    ).toEqual(["a@1", "c@1"]);
    expect(cache.heldBytes()).toBeLessThanOrEqual(25 * MB);
  });

  it("does not evict a session while it runs, and drop waits for the run", async () => {
    const log: string[] = [];
    const cache = new SessionCache(15 * MB);
    let finish!: () => void;
    const running = cache.with(
      "a@1",
      10 * MB,
      async () => fakeSession(log, "a"),
      () => new Promise<void>((r) => (finish = r)),
    );
    await new Promise((r) => setTimeout(r, 5));
    await cache.with(
      "b@1",
      10 * MB,
      async () => fakeSession(log, "b"),
      async () => undefined,
    );
    expect(log).toEqual([]); // a is busy, b was just loaded: nothing evictable
    const dropped = cache.drop("a@1");
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual([]);
    finish();
    await running;
    expect(await dropped).toBe(true);
    expect(log).toEqual(["release a"]);
  });
});
