/**
 * @module Answers whose body is whole when it is made (an encoded OIP answer, a function's JSON,
 * an error) say their length in Content-Length. The client gets a sized answer rather than a
 * chunked one, and whatever counts the bytes out (router/metrics/usage.ts) reads the length here
 * instead of passing every answer through a counting stream. A body of unknown length (a stream)
 * carries no Content-Length and is counted as it goes out.
 */
const CONTENT_LENGTH_HEADER = "content-length";

/** `body` as a response that declares its length; `headers` are kept (and taken over). */
export function sizedResponse(body: Uint8Array, status: number, headers: Headers): Response {
  headers.set(CONTENT_LENGTH_HEADER, String(body.byteLength));
  return new Response(body, { status, headers });
}

/** JSON, encoded once, as a sized response. */
export function sizedJson(value: unknown, status = 200, headers = new Headers()): Response {
  headers.set("content-type", "application/json");
  return sizedResponse(new TextEncoder().encode(JSON.stringify(value)), status, headers);
}

/** The length a response declared when it was made; undefined for one that did not (a stream, or a body of unknown length). */
export function declaredLength(response: Response): number | undefined {
  const raw = response.headers.get(CONTENT_LENGTH_HEADER);
  if (raw === null || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}
