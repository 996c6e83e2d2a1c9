/**
 * @module What a live vad stream keeps and when it stops working, in real workerd: after a message
 * the stored state holds no completed spans (those are under keys of their own, as they come), and
 * a stream hibernated between its two segments still answers the POST's answer; a client that
 * sends far faster than its windows run is closed 1008 once its waiting messages pass
 * MAX_BACKLOG_BYTES, and nothing of the stream is left in storage; a client that goes away while
 * its windows run leaves nothing behind either, however many windows were still to come.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { VadAnswer } from "../../functions/vad/answer.ts";
import { MAX_BACKLOG_BYTES, SPANS_PREFIX } from "../../durable-objects/vad-stream/vad-stream.ts";
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { call, createTenant, ensureDemoModel, fixtureBytes } from "./helpers.ts";
import { openWithObject, wavPcm } from "./stream-client.ts";

let key: string;

beforeAll(async () => {
  await ensureDemoModel("silero-vad");
  key = await createTenant("vad-stream-state", "premium");
});

const storedKeys = (stub: DurableObjectStub) => runInDurableObject(stub, async (_instance, state) => [...(await state.storage.list()).keys()]);

describe("the live vad stream's state", () => {
  it("stores its completed spans apart from the rest, and answers the POST's answer after hibernating between two segments", async () => {
    const wav = await fixtureBytes("fixtures/speech-gaps.wav");
    const posted = await call("/v1/functions/vad", { method: "POST", key, body: wav, headers: { "content-type": "audio/wav", [TIMEOUT_HEADER]: "10000" } });
    const expected = (await posted.json()) as VadAnswer;
    expect(expected.segments).toHaveLength(2);
    const { pcm } = wavPcm(wav);
    const { stream, stub } = await openWithObject(key);
    const messages: { type: string }[] = [];
    stream.socket.addEventListener("message", (event) => messages.push(JSON.parse(String(event.data)) as { type: string }));
    // Up to the middle of the gap between the segments: the first has ended, and is stored.
    const gapMiddle = Math.round(((expected.segments[0]!.end + expected.segments[1]!.start) / 2) * 16000) * 2;
    for (let at = 0; at < gapMiddle; at += 1024) stream.socket.send(pcm.slice(at, Math.min(at + 1024, gapMiddle)));
    await vi.waitUntil(() => messages.some((m) => m.type === "speech_end"), { timeout: 10_000, interval: 20 });
    await vi.waitUntil(async () => (await storedKeys(stub)).some((k) => k.startsWith(SPANS_PREFIX)), { timeout: 5_000, interval: 20 });
    const stored = await runInDurableObject(stub, (_instance, state) =>
      state.storage.get<{ spansStored: number; live: { segmenter: { spans: unknown[] } } }>("stream"),
    );
    expect(stored!.spansStored).toBe(1);
    expect(stored!.live.segmenter.spans).toEqual([]);

    await evictDurableObject(stub, { webSockets: "hibernate" });
    for (let at = gapMiddle; at < pcm.length; at += 1024) stream.socket.send(pcm.slice(at, at + 1024));
    stream.socket.send(JSON.stringify({ type: "end" }));
    const result = await stream.finished;
    const done = result.messages.at(-1) as VadAnswer & { type: string };
    expect(done.type).toBe("done");
    expect({ segments: done.segments, speech_ratio: done.speech_ratio, duration: done.duration }).toEqual(expected);
    await vi.waitUntil(async () => (await storedKeys(stub)).length === 0, { timeout: 5_000, interval: 20 });
  });

  it(`closes 1008 a client whose waiting messages pass ${MAX_BACKLOG_BYTES} bytes, leaving nothing stored`, async () => {
    const { stream, stub } = await openWithObject(key);
    // Sent at once: about 70 s of audio, far faster than its 2,200 windows run.
    const chunk = new Uint8Array(64 * 1024);
    for (let k = 0; k < 36; k++) stream.socket.send(chunk);
    const result = await stream.finished;
    expect(result.close.code).toBe(1008);
    expect(result.messages.find((m) => m.type === "error")?.error).toMatch(/^the stream sends faster than it is processed: more than 2097152 bytes wait/);
    await vi.waitUntil(async () => (await storedKeys(stub)).length === 0, { timeout: 10_000, interval: 50 });
  });

  it("runs no more windows once the client has gone, and stores nothing of it again", async () => {
    const { stream, stub } = await openWithObject(key);
    // One message of 30 s of audio: 937 windows in turn; the client closes while they run.
    stream.socket.send(new Uint8Array(30 * 16000 * 2));
    await new Promise((resolve) => setTimeout(resolve, 50));
    stream.socket.close(1000, "bye");
    await vi.waitUntil(async () => (await storedKeys(stub)).length === 0, { timeout: 10_000, interval: 50 });
    // Long enough for the rest of the windows, had they run, to have stored the stream again.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await storedKeys(stub)).toEqual([]);
  });
});
