/**
 * @module A live vad stream client for the end-to-end tests, as a browser opens one: Node's own
 * global WebSocket (the WHATWG client, which cannot set headers) with the key offered as the
 * subprotocol `bearer.<key>` beside `hotpath.v1`. It sends PCM in chunks of one size, then
 * `{"type":"end"}`, and collects every message and the close.
 */

export interface VadAnswer {
  segments: { start: number; end: number }[];
  speech_ratio: number;
  duration: number;
}

export interface StreamMessage extends Partial<VadAnswer> {
  type: string;
  t?: number;
  error?: string;
}

export interface StreamRun {
  /** The subprotocol the server selected. */
  protocol: string;
  messages: StreamMessage[];
  /** The `done` message's answer, when the stream ended with one. */
  done: VadAnswer | undefined;
  close: { code: number; reason: string };
}

/** Past this the stream counts as hung: 8 s of audio runs in well under a second when alone. */
const STREAM_TIMEOUT_MS = 60_000;

/** Streams `pcm` (s16le mono at `sampleRate`) in chunks of `chunkBytes`, ends it, and waits for the server's close. */
export function streamVad(edgeUrl: string, key: string, sampleRate: number, pcm: Uint8Array, chunkBytes: number): Promise<StreamRun> {
  const url = `${edgeUrl.replace(/^http/, "ws")}/v1/functions/vad/stream?sample_rate=${sampleRate}`;
  const socket = new WebSocket(url, ["hotpath.v1", `bearer.${key}`]);
  const messages: StreamMessage[] = [];
  return new Promise<StreamRun>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`the stream did not close within ${STREAM_TIMEOUT_MS} ms; messages: ${JSON.stringify(messages.slice(-3))}`));
    }, STREAM_TIMEOUT_MS);
    socket.addEventListener("open", () => {
      for (let at = 0; at < pcm.length; at += chunkBytes) socket.send(pcm.slice(at, at + chunkBytes));
      socket.send(JSON.stringify({ type: "end" }));
    });
    socket.addEventListener("message", (event) => messages.push(JSON.parse(String(event.data)) as StreamMessage));
    // A refused upgrade (401, 429, ...) ends here too: the WHATWG client does not expose its status.
    socket.addEventListener("error", () => undefined);
    socket.addEventListener("close", (event) => {
      clearTimeout(timer);
      const last = messages.at(-1);
      const done = last?.type === "done" ? { segments: last.segments!, speech_ratio: last.speech_ratio!, duration: last.duration! } : undefined;
      resolve({ protocol: socket.protocol, messages, done, close: { code: event.code, reason: event.reason } });
    });
  });
}
