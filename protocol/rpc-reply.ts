/**
 * @module Durable Object RPC results as values. An Error subclass loses its status crossing
 * RPC, and an error thrown out of an RPC method is logged by the runtime as an uncaught
 * exception, so expected refusals (404, 409, 503) travel as `{ ok: false, error }` (the
 * HttpError's `toJSON`) and become the same HttpError again on the caller's side.
 */
import { HttpError, type SerializedHttpError } from "./errors.ts";

export type RpcReply<T> = { ok: true; value: T } | { ok: false; error: SerializedHttpError };

/** Runs `work` inside a Durable Object method; an HttpError becomes a failed reply. */
export async function replyOf<T>(work: () => T | Promise<T>, what: string): Promise<RpcReply<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (error) {
    if (error instanceof HttpError) return { ok: false, error: error.toJSON() };
    console.error(`${what} failed`, error);
    return { ok: false, error: new HttpError(500, `${what} failed`).toJSON() };
  }
}

/** The reply's value, or its refusal rethrown as the HttpError it was. */
export function unwrapReply<T>(reply: RpcReply<T>): T {
  if (!reply.ok) throw HttpError.fromJSON(reply.error);
  return reply.value;
}
