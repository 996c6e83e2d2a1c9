/**
 * @module A client of the live vad stream for workerd tests: opens the WebSocket through the real
 * Worker (`fetch` with `Upgrade: websocket` answers a Response carrying `webSocket`), sends PCM in
 * chunks of given sizes and `{"type":"end"}`, and collects every message and the close.
 */
import { call } from "./helpers.ts";

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

/** The PCM of a 16-bit WAV's data chunk, mixed down to mono (channels averaged, rounded), and its rate. */
export function wavPcm(wav: Uint8Array): { pcm: Uint8Array; rate: number } {
  const view = new DataView(wav.buffer, wav.byteOffset, wav.byteLength);
  let channels = 1;
  let rate = 16000;
  for (let at = 12; at + 8 <= wav.length;) {
    const id = String.fromCharCode(...wav.subarray(at, at + 4));
    const size = view.getUint32(at + 4, true);
    if (id === "fmt ") {
      channels = view.getUint16(at + 10, true);
      rate = view.getUint32(at + 12, true);
    }
    if (id === "data") {
      const frames = Math.floor(size / (2 * channels));
      const mono = new Int16Array(frames);
      for (let f = 0; f < frames; f++) {
        let sum = 0;
        for (let c = 0; c < channels; c++) sum += view.getInt16(at + 8 + 2 * (f * channels + c), true);
        mono[f] = Math.round(sum / channels);
      }
      return { pcm: new Uint8Array(mono.buffer), rate };
    }
    at += 8 + size + (size % 2);
  }
  throw new Error("no data chunk");
}
