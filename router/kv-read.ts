/**
 * @module Reads on the request path from KV (and the registry behind it) that fail. A KV read
 * that throws (KV unavailable, rate-limited, a network fault) says nothing about the request or
 * the tenant: it is answered 503 with Retry-After so clients back off and retry, never a bare
 * 500, and never read as "no such key" (which would be a 401 or 404 that is not true).
 */
import { HttpError } from "../protocol/errors.ts";

/** Retry-After for a failed store read: KV faults are brief. */
const STORE_FAULT_RETRY_AFTER_S = 1;

/** `read()`, or a 503 with Retry-After when it throws; `what` names the store in the log. */
export async function storeRead<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof HttpError) throw error;
    console.error(`${what} read failed`, error);
    return Promise.reject(new HttpError(503, "a store the service depends on is unavailable, try again", STORE_FAULT_RETRY_AFTER_S));
  }
}
