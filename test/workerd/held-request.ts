/**
 * @module Requests whose body the test holds back, to keep a request in flight at the router for
 * as long as a test needs, with no timer: the router takes the tenant's in-flight slot (and has
 * resolved the model version) before it reads the body, and the request stays there until the
 * test releases the rest of the body. `reading` settles when the router has begun to read: the
 * runtime pulls the first chunk of a request body eagerly, but pulls the second only once the
 * Worker has consumed the first, so the second pull is the Worker's own read.
 */
import { call } from "./helpers.ts";

/** Leading whitespace, which JSON allows: the first chunk, pulled eagerly by the runtime. */
const FIRST_CHUNK = new Uint8Array(16 * 1024).fill(0x20);

export interface HeldRequest {
  /** Settles once the Worker reads the body; rejects if the request was answered first. */
  reading: Promise<void>;
  /** Sends the rest of the body (`body`), so the request can proceed. */
  release(): void;
  response: Promise<Response>;
}

/**
 * POSTs `body` (JSON, optionally preceded by whitespace) to `path` with `key`, holding all but a
 * first chunk of whitespace until `release()`.
 */
export function heldPost(path: string, key: string, body: Uint8Array, headers: Record<string, string> = {}, signal?: AbortSignal): HeldRequest {
  let read = false;
  let startedReading!: () => void;
  const readingStarted = new Promise<void>((resolve) => (startedReading = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        pulls += 1;
        if (pulls === 1) controller.enqueue(FIRST_CHUNK.slice());
        else if (pulls === 2) {
          read = true;
          startedReading();
          await released;
          controller.enqueue(body);
        } else controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  const response = call(path, { method: "POST", key, body: stream, headers: { "content-type": "application/json", ...headers }, signal });
  const answeredFirst = response.then(async (r) => {
    if (!read) throw new Error(`answered ${r.status} before its body was read: ${await r.clone().text()}`);
  });
  return { reading: Promise.race([readingStarted, answeredFirst]), release, response };
}

/** A JSON inference body as bytes. */
export function jsonBody(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
