/**
 * @module Reads a request body into memory with a hard byte limit, refusing early on a
 * declared Content-Length over the limit and, for chunked bodies, as soon as the limit is passed,
 * so a huge body never reaches the isolate's 128 MB.
 */
import { concatBytes } from "../bytes.ts";
import { HttpError, payloadTooLarge } from "../errors.ts";
import { INFERENCE_HEADER_LENGTH_HEADER } from "../headers.ts";

/**
 * A request's body (413 past the limit), or an answer's read the same way (its reader decides whose
 * fault the 413 is). `onChunk` sees each chunk's size before it is kept and may refuse it by
 * throwing (a budget shared between requests): the rest of the body is then not read.
 */
export async function readBodyLimited(request: Request | Response, limitBytes: number, onChunk?: (bytes: number) => void): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limitBytes) {
    throw payloadTooLarge(`request body of ${declared} bytes exceeds the limit of ${limitBytes} bytes`);
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limitBytes) {
      await reader.cancel();
      throw payloadTooLarge(`request body exceeds the limit of ${limitBytes} bytes`);
    }
    try {
      onChunk?.(value.byteLength);
    } catch (error) {
      await reader.cancel().catch(() => undefined);
      throw error;
    }
    chunks.push(value);
  }
  return concatBytes(chunks);
}

/** The binary extension's JSON header length, validated; undefined for a pure JSON body. */
export function inferenceHeaderLength(request: Request): number | undefined {
  const raw = request.headers.get(INFERENCE_HEADER_LENGTH_HEADER);
  if (raw === null) return undefined;
  // Digits only: Number() would also read "", " 5 ", "1e1" and "0x10", which a proxy may read otherwise.
  const length = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(length)) {
    throw new HttpError(400, `Inference-Header-Content-Length must be a non-negative integer, got '${raw}'`);
  }
  return length;
}
