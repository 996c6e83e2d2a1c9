/**
 * @module An answer's bytes with and without the request's `id`. The OIP answer echoes the
 * request's id, which is not part of the cache key (clients often send a fresh one each time), so
 * the cache keeps answers without it and puts the asking request's id back in on a hit.
 *
 * encodeInferResponse writes the header as JSON.stringify of `{model_name, model_version, id?,
 * outputs}` (in that order), followed by the binary tensors when any; so the id is exactly the
 * bytes `,"id":<JSON string>` right after the model_version value, and taking them out or putting
 * them in gives the very bytes the encoder would have written, with the header length moved by as
 * many bytes.
 */
import type { EncodedBody } from "../../protocol/oip/infer-response.ts";

const utf8 = new TextEncoder();

/** Where the id goes (right after model_version) and its bytes. */
function idSpan(modelName: string, modelVersion: string, id: string): { at: number; bytes: Uint8Array } {
  const before = JSON.stringify({ model_name: modelName, model_version: modelVersion }).slice(0, -1);
  return { at: utf8.encode(before).byteLength, bytes: utf8.encode(`,"id":${JSON.stringify(id)}`) };
}

/** The answer as if the request had no id; undefined when its bytes are not laid out as expected (then it is not cached). */
export function withoutId(answer: EncodedBody, modelName: string, modelVersion: string, id: string | undefined): EncodedBody | undefined {
  if (id === undefined) return answer;
  const span = idSpan(modelName, modelVersion, id);
  const found = answer.body.subarray(span.at, span.at + span.bytes.byteLength);
  if (found.byteLength !== span.bytes.byteLength || !found.every((byte, i) => byte === span.bytes[i])) return undefined;
  const body = new Uint8Array(answer.body.byteLength - span.bytes.byteLength);
  body.set(answer.body.subarray(0, span.at));
  body.set(answer.body.subarray(span.at + span.bytes.byteLength), span.at);
  const headerLength = answer.headerLength === undefined ? undefined : answer.headerLength - span.bytes.byteLength;
  return { body, contentType: answer.contentType, headerLength };
}

/** A kept answer (without id) with this request's id put in. */
export function withId(answer: EncodedBody, modelName: string, modelVersion: string, id: string | undefined): EncodedBody {
  if (id === undefined) return answer;
  const span = idSpan(modelName, modelVersion, id);
  const body = new Uint8Array(answer.body.byteLength + span.bytes.byteLength);
  body.set(answer.body.subarray(0, span.at));
  body.set(span.bytes, span.at);
  body.set(answer.body.subarray(span.at), span.at + span.bytes.byteLength);
  const headerLength = answer.headerLength === undefined ? undefined : answer.headerLength + span.bytes.byteLength;
  return { body, contentType: answer.contentType, headerLength };
}
