/**
 * @module A client of the live vad stream for workerd tests: opens the WebSocket through the real
 * Worker (`fetch` with `Upgrade: websocket` answers a Response carrying `webSocket`), sends PCM in
 * chunks of given sizes and `{"type":"end"}`, and collects every message and the close.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { call } from "./helpers.ts";

export { wavPcm } from "./wav-pcm.ts";

export interface StreamMessage {
  type: string;
  t?: number;
  error?: string;
  segments?: { start: number; end: number }[];
  speech_ratio?: number;
  duration?: number;
}

export interface StreamResult {
  messages: StreamMessage[];
  close: { code: number; reason: string };
}

export interface OpenStream {
  response: Response;
  socket: WebSocket;
  /** Every message and the close, once the server closes. */
  finished: Promise<StreamResult>;
}

/** Opens a stream; the response must be the 101 with its socket (else the test fails with the answer's body). */
export async function openStream(query: string, init: { key?: string; headers?: Record<string, string> } = {}): Promise<OpenStream> {
  const response = await call(`/v1/functions/vad/stream${query}`, { key: init.key, headers: { upgrade: "websocket", ...init.headers } });
  const socket = response.webSocket;
  if (response.status !== 101 || !socket) throw new Error(`no upgrade: ${response.status} ${await response.text()}`);
  socket.accept();
  const messages: StreamMessage[] = [];
  socket.addEventListener("message", (event) => messages.push(JSON.parse(String(event.data)) as StreamMessage));
  const finished = new Promise<StreamResult>((resolve) =>
    socket.addEventListener("close", (event) => {
      resolve({ messages, close: { code: event.code, reason: event.reason } });
    }),
  );
  return { response, socket, finished };
}

/** Sends `pcm` in chunks whose sizes cycle through `chunkBytes`, then `{"type":"end"}`. */
export function sendAudio(socket: WebSocket, pcm: Uint8Array, chunkBytes: readonly number[]): void {
  for (let at = 0, k = 0; at < pcm.length; k++) {
    const size = chunkBytes[k % chunkBytes.length]!;
    socket.send(pcm.slice(at, at + size));
    at += size;
  }
  socket.send(JSON.stringify({ type: "end" }));
}

/** A whole stream: open, send, end, wait for the close. */
export async function streamAudio(query: string, key: string, pcm: Uint8Array, chunkBytes: readonly number[]): Promise<StreamResult> {
  const { socket, finished } = await openStream(query, { key });
  sendAudio(socket, pcm, chunkBytes);
  return finished;
}

/** Opens a stream and finds its VadStream object: the one id that was not there before. */
export async function openWithObject(key: string): Promise<{ stream: OpenStream; stub: DurableObjectStub }> {
  const before = new Set((await listDurableObjectIds(env.VAD_STREAM)).map((id) => id.toString()));
  const stream = await openStream("?sample_rate=16000", { key });
  const added = (await listDurableObjectIds(env.VAD_STREAM)).filter((id) => !before.has(id.toString()));
  expect(added).toHaveLength(1);
  return { stream, stub: env.VAD_STREAM.get(added[0]!) };
}
