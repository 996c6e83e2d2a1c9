/**
 * @module Reads from the stores behind the router that fail: KV (keys, tenants, the catalog),
 * the model registry Durable Object, R2. A read that throws (the store unavailable, rate-limited,
 * a network fault, the registry reset) says nothing about the request or the caller: it is
 * answered 503 with Retry-After so clients back off and retry, never a bare 500, and never read
 * as "no such key" (which would be a 401 or 404 that is not true). Tenant routes, admin routes
 * and the origins' internal routes all read through here.
 */
import { HttpError } from "../protocol/errors.ts";

/** Retry-After for a failed store read: KV faults are brief. */
const STORE_FAULT_RETRY_AFTER_S = 1;

/** The stores, as the 503 names them: what failed, with nothing of how (the cause goes to the log). */
export type Store = "the key store" | "the model catalog" | "the model registry" | "the model store" | "the metrics store" | "the alerts store";

/** `read()`, or a 503 with Retry-After naming `store` when it throws. */
export async function storeRead<T>(store: Store, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof HttpError) throw error;
    console.error(`a read from ${store} failed`, error);
    return Promise.reject(new HttpError(503, `${store} is unavailable, try again`, STORE_FAULT_RETRY_AFTER_S));
  }
}
