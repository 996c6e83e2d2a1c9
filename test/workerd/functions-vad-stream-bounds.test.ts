/**
 * @module The live vad stream's time bounds and its rate limit, in real workerd: a stream with no
 * message for its tier's idle time is closed with 1001, one past its wall-clock life with 1008
 * (both by the VadStream's alarm, after the object was hibernated, so the bounds survive it), and
 * opening streams past the tier's rate is refused with 429 before the upgrade. The clock cannot
 * be moved from here, so a test moves the stream's stored times into the past and evicts the
 * object: the woken one reads them back, as a stream woken by its alarm after real idle time does.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { TIERS } from "../../config/tiers.ts";
import { call, createTenant, ensureDemoModel } from "./helpers.ts";
import { openWithObject, type OpenStream, type StreamResult } from "./stream-client.ts";

interface StoredStream {
  openedAt: number;
  lastMessageAt: number;
  setup: { idleTimeoutMs: number; maxLifetimeMs: number; tenant: string };
}

beforeAll(async () => {
  await ensureDemoModel("silero-vad");
});

/** Moves the stream's stored times back by the given milliseconds, then hibernates the object so the woken one reads them. */
async function age(stub: DurableObjectStub, by: { opened: number; lastMessage: number }): Promise<StoredStream> {
  const stored = await runInDurableObject(stub, async (_instance, state) => {
    const stream = (await state.storage.get<StoredStream>("stream"))!;
    stream.openedAt -= by.opened;
    stream.lastMessageAt -= by.lastMessage;
    await state.storage.put("stream", stream);
    return stream;
  });
  await evictDurableObject(stub, { webSockets: "hibernate" });
  return stored;
}

/** The stream's close, or a clear failure when the server has not closed it within a few seconds. */
async function closed(stream: OpenStream, what: string): Promise<StreamResult> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the server did not close the stream ${what}`)), 5_000));
  return Promise.race([stream.finished, timeout]);
}

async function openSlots(tenant: string): Promise<number> {
  return env.STREAM_SLOTS.getByName(tenant).open();
}

describe("the live vad stream's bounds", () => {
  it("closes a stream with no message for its tier's idle time with 1001, frees its slot, and keeps a younger one open", async () => {
    const key = await createTenant("vad-stream-idle", "free");
    const { stream, stub } = await openWithObject(key);
    // Heard from just now: the alarm only sets itself again.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const stored = await age(stub, { opened: 0, lastMessage: TIERS.free.streamIdleTimeoutMs - 2_000 });
    expect(stored.setup.idleTimeoutMs).toBe(TIERS.free.streamIdleTimeoutMs);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const noClose = await Promise.race([stream.finished, new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 200))]);
    expect(noClose, "closed before its idle time").toBe("open");

    await age(stub, { opened: 0, lastMessage: 2_000 });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const result = await closed(stream, "once it was idle");
    expect(result.close.code).toBe(1001);
    expect(result.close.reason).toContain(`idle: no message for ${TIERS.free.streamIdleTimeoutMs / 1000} s`);
    expect(await openSlots(stored.setup.tenant)).toBe(0);
  });

  it("closes a stream past its wall-clock life with 1008 though it kept sending, and frees its slot", async () => {
    const key = await createTenant("vad-stream-life", "free");
    const { stream, stub } = await openWithObject(key);
    stream.socket.send(new Uint8Array(1024));
    await vi.waitUntil(() =>
      runInDurableObject(stub, async (_instance, state) => (await state.storage.get<StoredStream & { live?: unknown }>("stream"))?.live),
    );
    const maxLifetimeMs = 2 * TIERS.free.maxStreamSeconds * 1000;
    const stored = await age(stub, { opened: maxLifetimeMs, lastMessage: 0 });
    expect(stored.setup.maxLifetimeMs).toBe(maxLifetimeMs);
    expect(Date.now() - stored.lastMessageAt, "it was heard from just now").toBeLessThan(TIERS.free.streamIdleTimeoutMs);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const result = await closed(stream, "past its wall-clock life");
    expect(result.close.code).toBe(1008);
    expect(result.close.reason).toContain(`${maxLifetimeMs / 1000} s of wall time`);
    expect(await openSlots(stored.setup.tenant)).toBe(0);
  });

  it("refuses opening streams past the tier's rate with 429 and Retry-After before the upgrade", async () => {
    const key = await createTenant("vad-stream-rate", "free");
    // Every attempt is counted before the upgrade is checked: a bad sample rate costs a token as an open would.
    const attempts = TIERS.free.burst + 10;
    const responses = await Promise.all(
      Array.from({ length: attempts }, () => call("/v1/functions/vad/stream?sample_rate=1", { key, headers: { upgrade: "websocket" } })),
    );
    const limited = responses.filter((r) => r.status === 429);
    expect(limited.length, "attempts over the burst").toBeGreaterThanOrEqual(attempts - TIERS.free.burst - 2);
    for (const response of limited) {
      expect(response.webSocket).toBeNull();
      expect(Number(response.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(((await response.json()) as { error: string }).error).toContain(`rate limit of ${TIERS.free.ratePerSecond} requests/s`);
    }
    const others = responses.filter((r) => r.status !== 429);
    for (const response of others) expect(response.status).toBe(400);
  });
});
