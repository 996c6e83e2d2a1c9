/**
 * @module The live vad stream (`GET /v1/functions/vad/stream`) through the real Worker, VadStream
 * and StreamSlots Durable Objects, ModelHost, KV and R2 with the real Silero model: the stream's
 * `done` equals the POST's answer for the same audio, in any chunking and resampled; its events
 * follow the segments; every refusal comes before the upgrade as plain HTTP; the tier's bounds
 * close or refuse a stream clearly; and concurrent streams' windows batch at the host.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { TIERS } from "../../config/tiers.ts";
import { ADMIN, call, createTenant, ensureDemoModel, fixtureBytes } from "./helpers.ts";
import { openStream, sendAudio, streamAudio, wavPcm, type StreamResult } from "./stream-client.ts";

interface VadAnswer {
  segments: { start: number; end: number }[];
  speech_ratio: number;
  duration: number;
}
interface HostCounters {
  admitted: number;
  batches: number;
  batchedRequests: number;
}

let key: string;

beforeAll(async () => {
  await ensureDemoModel("silero-vad");
  key = await createTenant("vad-stream", "premium");
});

async function post(file: string, query = ""): Promise<VadAnswer> {
  const body = await fixtureBytes(`fixtures/${file}`);
  const response = await call(`/v1/functions/vad${query}`, { method: "POST", key, body, headers: { "content-type": "audio/wav", [TIMEOUT_HEADER]: "10000" } });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as VadAnswer;
}

async function pcmOf(file: string) {
  return wavPcm(await fixtureBytes(`fixtures/${file}`));
}

function doneOf(result: StreamResult): VadAnswer {
  const done = result.messages.at(-1);
  expect(done?.type, JSON.stringify(result.messages.slice(-2))).toBe("done");
  expect(result.close.code).toBe(1000);
  const { segments, speech_ratio, duration } = done as VadAnswer & { type: string };
  return { segments, speech_ratio, duration };
}

async function hostCounters(): Promise<HostCounters> {
  const response = await call("/admin/models/silero-vad", { key: ADMIN });
  return ((await response.json()) as { hosts: { counters: HostCounters }[] }).hosts[0]!.counters;
}

describe("the live vad stream", () => {
  it("answers done with the POST's answer for the same audio, sent in whole windows or in odd-sized chunks", async () => {
    const { pcm, rate } = await pcmOf("speech-gaps.wav");
    expect(rate).toBe(16000);
    const expected = await post("speech-gaps.wav");
    expect(expected.segments.length).toBe(2);
    expect(doneOf(await streamAudio("?sample_rate=16000", key, pcm, [1024]))).toEqual(expected);
    // Odd sizes split samples across messages: the odd byte is carried into the next.
    expect(doneOf(await streamAudio("?sample_rate=16000", key, pcm, [1001, 7, 4093, 1]))).toEqual(expected);
  });

  it("sends speech_start and speech_end as they happen, in order, one pair per segment around it", async () => {
    const { pcm } = await pcmOf("speech-gaps.wav");
    const result = await streamAudio("", key, pcm, [3200]);
    const done = doneOf(result);
    const events = result.messages.slice(0, -1);
    expect(events.map((e) => e.type)).toEqual(done.segments.flatMap(() => ["speech_start", "speech_end"]));
    done.segments.forEach((segment, k) => {
      // Events are unpadded; segments carry speech_pad_ms (30 ms) on each side.
      expect(events[2 * k]!.t! - segment.start).toBeCloseTo(0.03, 2);
      expect(segment.end - events[2 * k + 1]!.t!).toBeCloseTo(0.03, 2);
    });
  });

  it("applies the POST's options", async () => {
    const { pcm } = await pcmOf("speech-gaps.wav");
    const query = "?sample_rate=16000&min_silence_ms=2000&speech_pad_ms=200";
    expect(doneOf(await streamAudio(query, key, pcm, [2048]))).toEqual(await post("speech-gaps.wav", "?min_silence_ms=2000&speech_pad_ms=200"));
  });

  it("resamples 44.1 kHz to the POST's segments within 0.1 s, and finds none in silence", async () => {
    const { pcm, rate } = await pcmOf("speech-gaps-44k-stereo.wav");
    expect(rate).toBe(44100);
    const expected = await post("speech-gaps-44k-stereo.wav");
    const done = doneOf(await streamAudio("?sample_rate=44100", key, pcm, [4411]));
    expect(done.segments.length).toBe(expected.segments.length);
    done.segments.forEach((segment, k) => {
      expect(Math.abs(segment.start - expected.segments[k]!.start)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(segment.end - expected.segments[k]!.end)).toBeLessThanOrEqual(0.1);
    });
    expect(done.duration).toBe(expected.duration);
    const silence = await pcmOf("silence.wav");
    expect(doneOf(await streamAudio("", key, silence.pcm, [777])).segments).toEqual([]);
  });

  it("takes the key as the subprotocol bearer.<key> beside hotpath.v1, selects hotpath.v1 and never echoes the key", async () => {
    const { pcm } = await pcmOf("speech.wav");
    const opened = await openStream("?sample_rate=16000", { headers: { "sec-websocket-protocol": `hotpath.v1, bearer.${key}` } });
    expect(opened.response.headers.get("sec-websocket-protocol")).toBe("hotpath.v1");
    for (const [name, value] of opened.response.headers) expect(value, name).not.toContain(key);
    sendAudio(opened.socket, pcm, [512]);
    expect(doneOf(await opened.finished)).toEqual(await post("speech.wav"));
  });

  it("refuses before the upgrade, as plain HTTP errors: no key, a bad key, a key for other models, a bad sample rate or option, no Upgrade", async () => {
    const other = await createTenant("vad-stream-mlp-only", "premium", ["mlp-tiny"]);
    const cases: [string, Record<string, string>, number, string][] = [
      ["?sample_rate=16000", { upgrade: "websocket" }, 401, "missing API key"],
      ["", { upgrade: "websocket", authorization: `Bearer hp_${"x".repeat(43)}` }, 401, "unknown API key"],
      ["", { upgrade: "websocket", "sec-websocket-protocol": `hotpath.v1, bearer.hp_${"y".repeat(43)}` }, 401, "unknown API key"],
      ["", { upgrade: "websocket", authorization: `Bearer ${other}` }, 403, "silero-vad"],
      ["?sample_rate=44", { upgrade: "websocket", authorization: `Bearer ${key}` }, 400, "sample_rate"],
      ["?sample_rate=abc", { upgrade: "websocket", authorization: `Bearer ${key}` }, 400, "sample_rate"],
      ["?threshold=2", { upgrade: "websocket", authorization: `Bearer ${key}` }, 400, "threshold"],
      ["?sample_rate=16000", { authorization: `Bearer ${key}` }, 400, "Upgrade: websocket"],
      ["", { upgrade: "websocket", authorization: `Bearer ${key}`, "sec-websocket-protocol": "chat" }, 400, "hotpath.v1"],
    ];
    for (const [query, headers, status, message] of cases) {
      const response = await call(`/v1/functions/vad/stream${query}`, { headers });
      expect(response.webSocket, query).toBeNull();
      expect(response.status, `${query} ${JSON.stringify(headers)}`).toBe(status);
      expect(((await response.json()) as { error: string }).error).toContain(message);
    }
  });

  it("answers a malformed message with an error and closes 1003", async () => {
    for (const text of ["not json", JSON.stringify({ type: "pause" })]) {
      const { socket, finished } = await openStream("", { key });
      socket.send(text);
      const result = await finished;
      expect(result.messages.map((m) => m.type)).toEqual(["error"]);
      expect(result.close.code).toBe(1003);
    }
  });

  it("closes a stream past its tier's seconds of audio with an error (1008), before running the audio", async () => {
    const freeKey = await createTenant("vad-stream-free-long", "free");
    const { socket, finished } = await openStream("?sample_rate=8000", { key: freeKey });
    const before = await hostCounters();
    socket.send(new Uint8Array((TIERS.free.maxStreamSeconds + 1) * 8000 * 2));
    const result = await finished;
    expect(result.messages).toHaveLength(1);
    expect(result.messages[0]!.error).toContain(`${TIERS.free.maxStreamSeconds} s of audio`);
    expect(result.close.code).toBe(1008);
    expect((await hostCounters()).admitted).toBe(before.admitted);
  });

  it("refuses one stream more than the tier's concurrent streams with 429 before the upgrade, and takes one again after a stream ends", async () => {
    const freeKey = await createTenant("vad-stream-free-many", "free");
    const open = await Promise.all(Array.from({ length: TIERS.free.maxConcurrentStreams }, () => openStream("", { key: freeKey })));
    const refused = await call("/v1/functions/vad/stream", { key: freeKey, headers: { upgrade: "websocket" } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeTruthy();
    expect(((await refused.json()) as { error: string }).error).toContain(`limit is ${TIERS.free.maxConcurrentStreams}`);
    open[0]!.socket.send(JSON.stringify({ type: "end" }));
    await open[0]!.finished;
    const again = await openStream("", { key: freeKey });
    for (const stream of [again, ...open.slice(1)]) {
      stream.socket.send(JSON.stringify({ type: "end" }));
      expect((await stream.finished).close.code).toBe(1000);
    }
  });

  it("gives eight concurrent streams the answers of eight POSTs, while the host batched their windows", async () => {
    const files = ["speech-gaps.wav", "speech.wav", "silence.wav", "noise.wav"];
    const expected = await Promise.all(files.map((file) => post(file)));
    const audio = await Promise.all(files.map(pcmOf));
    const before = await hostCounters();
    const opened = await Promise.all(Array.from({ length: 8 }, () => openStream("", { key })));
    opened.forEach((stream, k) => sendAudio(stream.socket, audio[k % files.length]!.pcm, [1024 + 2 * k]));
    const results = await Promise.all(opened.map((stream) => stream.finished));
    results.forEach((result, k) => expect(doneOf(result), files[k % files.length]).toEqual(expected[k % files.length]));
    const after = await hostCounters();
    const batches = after.batches - before.batches;
    const batched = after.batchedRequests - before.batchedRequests;
    expect(batches, "runs that merged windows of several streams").toBeGreaterThan(0);
    expect(batched / batches, "windows per merged run").toBeGreaterThan(2);
  });
});
