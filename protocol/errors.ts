/**
 * @module One error type for everything a client can get wrong or that we refuse on purpose.
 * Thrown anywhere (router, Durable Objects, origin); mapped to `{"error": "..."}` once, by the
 * router's error handler. Anything that is not an HttpError is our fault: logged, answered 500.
 */

/** Statuses hotpath answers on purpose (DESIGN.md, "Interfaces that stay fixed"). */
/** 499: the client went away (nginx's convention); never sent, only recorded. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 409 | 411 | 413 | 415 | 429 | 499 | 500 | 503 | 504;

export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly status: ErrorStatus;
  /** Seconds the client should wait before retrying (sent as Retry-After on 429/503). */
  readonly retryAfterSeconds: number | undefined;

  constructor(status: ErrorStatus, message: string, retryAfterSeconds?: number) {
    super(message);
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** Plain form that survives a Durable Object RPC boundary (Error subclasses do not; see rpc-reply.ts). */
  toJSON(): SerializedHttpError {
    return { httpError: true, status: this.status, message: this.message, retryAfterSeconds: this.retryAfterSeconds };
  }
}

export interface SerializedHttpError {
  httpError: true;
  status: ErrorStatus;
  message: string;
  retryAfterSeconds: number | undefined;
}

/** Retry-After for a wait of `waitMs`: whole seconds, at least 1. */
export function retryAfterSecondsFor(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}

export const badRequest = (message: string): HttpError => new HttpError(400, message);
export const notFound = (message: string): HttpError => new HttpError(404, message);
export const payloadTooLarge = (message: string): HttpError => new HttpError(413, message);
