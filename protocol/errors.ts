/**
 * @module The one error type of hotpath. Thrown anywhere (router, Durable Objects, the scheduler,
 * the origin and its worker thread), it carries a status, a message and Retry-After across every
 * hop: as a value over Durable Object RPC and worker messages (`toJSON`/`fromJSON`), as
 * `{"error": ...}` plus the status and Retry-After header over HTTP (protocol/http/error-response.ts).
 * A 4xx is the caller's mistake; a 5xx is a refusal (503, 504) or our fault (500, 502).
 */

/**
 * Statuses hotpath answers on purpose (docs/architecture.md, "Interfaces that stay fixed"). 422: a model's
 * bytes are not a model it can load; 499: the client went away (nginx's convention), recorded,
 * never sent; 502: an upstream (an origin, or the edge seen from an origin) failed or sent garbage.
 */
export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 409 | 411 | 413 | 415 | 422 | 429 | 499 | 500 | 502 | 503 | 504;

const STATUSES: ReadonlySet<number> = new Set<ErrorStatus>([400, 401, 403, 404, 405, 409, 411, 413, 415, 422, 429, 499, 500, 502, 503, 504]);

/**
 * Why a request was refused (429, 503), for the metrics (`hotpath_refusals_total{reason}`): a kind
 * a refusal names where it is made, so nothing downstream has to read message text. A 504 needs
 * none: it always means the deadline passed.
 */
export type RefusalReason = "rate" | "in_flight" | "router_early" | "deadline" | "queue_full" | "shed" | "input_budget" | "body_budget";

const REASONS: ReadonlySet<string> = new Set<RefusalReason>([
  "rate",
  "in_flight",
  "router_early",
  "deadline",
  "queue_full",
  "shed",
  "input_budget",
  "body_budget",
]);

/** The plain form of an HttpError: what crosses a Durable Object RPC or a worker thread. */
export interface SerializedHttpError {
  httpError: true;
  status: ErrorStatus;
  message: string;
  retryAfterSeconds: number | undefined;
  reason?: RefusalReason;
}

export class HttpError extends Error {
  override readonly name = "HttpError";
  readonly status: ErrorStatus;
  /** Seconds the client should wait before retrying (sent as Retry-After on 429/503). */
  readonly retryAfterSeconds: number | undefined;
  /** Why a refusal was made, when its maker names it (see RefusalReason). */
  readonly reason: RefusalReason | undefined;

  constructor(status: ErrorStatus, message: string, retryAfterSeconds?: number, reason?: RefusalReason) {
    super(message);
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
    this.reason = reason;
  }

  /** The caller's mistake, as opposed to a refusal or a fault of ours. */
  get isClientError(): boolean {
    return this.status >= 400 && this.status < 500;
  }

  /** Plain form that survives a Durable Object RPC or postMessage (Error subclasses do not). */
  toJSON(): SerializedHttpError {
    const plain: SerializedHttpError = { httpError: true, status: this.status, message: this.message, retryAfterSeconds: this.retryAfterSeconds };
    if (this.reason) plain.reason = this.reason;
    return plain;
  }

  /** The HttpError a `toJSON` value stood for; anything else that arrives is a 500. */
  static fromJSON(value: unknown): HttpError {
    const plain = (typeof value === "object" && value !== null ? value : {}) as Partial<SerializedHttpError>;
    const status = typeof plain.status === "number" && STATUSES.has(plain.status) ? plain.status : 500;
    const message = typeof plain.message === "string" ? plain.message : "internal error";
    const retryAfter = typeof plain.retryAfterSeconds === "number" && plain.retryAfterSeconds > 0 ? plain.retryAfterSeconds : undefined;
    const reason = typeof plain.reason === "string" && REASONS.has(plain.reason) ? plain.reason : undefined;
    return new HttpError(status, message, retryAfter, reason);
  }

  /** `error` as an HttpError: itself when it is one, else a 500 that keeps its message. */
  static from(error: unknown): HttpError {
    if (error instanceof HttpError) return error;
    return new HttpError(500, error instanceof Error ? error.message : String(error));
  }

  /** Whether `status` is one hotpath answers with (a status read off another server may not be). */
  static isErrorStatus(status: number): status is ErrorStatus {
    return STATUSES.has(status);
  }
}

/** Retry-After for a wait of `waitMs`: whole seconds, at least 1. */
export function retryAfterSecondsFor(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}

/** A refusal (429, 503) that says why it was made, for the metrics. */
export const refusal = (status: 429 | 503, message: string, retryAfterSeconds: number, reason: RefusalReason): HttpError =>
  new HttpError(status, message, retryAfterSeconds, reason);

export const badRequest = (message: string): HttpError => new HttpError(400, message);
export const notFound = (message: string): HttpError => new HttpError(404, message);
export const payloadTooLarge = (message: string): HttpError => new HttpError(413, message);
/** Something behind us (an origin, the edge) failed or answered what cannot be read. */
export const badGateway = (message: string): HttpError => new HttpError(502, message);
