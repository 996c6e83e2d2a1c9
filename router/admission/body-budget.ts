/**
 * @module The bytes of request bodies one router isolate holds at once. The per-request limit
 * (MAX_INFER_BODY_BYTES, the tier's) bounds one body, but an isolate serves many requests
 * concurrently within its 128 MB: sixteen 16 MB bodies read and parsed together would exhaust
 * it and fail every request in the isolate. So the bodies being read and parsed are counted here
 * (module state: the isolate's, not a request's) against ROUTER_BODY_BUDGET_MB, and a body that
 * would take the total over it is refused at once with 503 and Retry-After: another isolate, or
 * this one a moment later, can take it. A declared Content-Length is counted before anything is
 * read; a body without one is counted as its chunks arrive. The bytes go back when the request is
 * done with them, whichever way it ends: answered, failed, or its client gone (the request's
 * abort signal, since a cancelled request's own `finally` may never run). A JSON body is also
 * counted for what its parse will hold (takeForParse), up to ten times its bytes.
 */
import { HttpError, payloadTooLarge, refusal } from "../../protocol/errors.ts";
import { readBodyLimited } from "../../protocol/http/read-body.ts";
import { releasedOnAbort } from "./release-on-abort.ts";

/** Retry-After for a refusal on the budget: bodies in flight are read and answered within about a second. */
const BUDGET_RETRY_AFTER_S = 1;

/** Bytes of request bodies held by the requests this isolate is serving now. */
let heldBytes = 0;

/** What the isolate's requests hold now; for tests and the logs. */
export function bodyBytesInUse(): number {
  return heldBytes;
}

/** One request's share of the isolate's body budget. `release` is idempotent. */
export class BodyHold {
  readonly #budgetBytes: number;
  #bytes = 0;
  #released = false;
  /** Gives the bytes back, and stops listening for the client going away. */
  readonly #release: () => void;

  /** `signal`: the request's; when its client goes away the hold is released at once (release-on-abort.ts). */
  constructor(budgetBytes: number, signal?: AbortSignal) {
    this.#budgetBytes = budgetBytes;
    this.#release = releasedOnAbort(signal, () => {
      if (this.#released) return;
      this.#released = true;
      heldBytes -= this.#bytes;
      this.#bytes = 0;
    });
  }

  /** Counts `bytes` more for this request, or refuses (503) when the isolate's total would pass the budget. */
  take(bytes: number): void {
    if (this.#released) throw new HttpError(499, "the client went away while its body was read");
    if (heldBytes + bytes > this.#budgetBytes) {
      throw refusal(
        503,
        `this server is reading too many request bodies at once (${heldBytes + bytes} bytes with this one, the budget is ${this.#budgetBytes}), try again`,
        BUDGET_RETRY_AFTER_S,
        "body_budget",
      );
    }
    heldBytes += bytes;
    this.#bytes += bytes;
  }

  /**
   * Counts the memory a JSON body's parse is about to take (protocol/oip/infer-request.ts
   * parsedBytes): 503 when the isolate is busy, as take; 413 when this request's body and parse
   * alone would pass the whole budget, which no retry would change.
   */
  takeForParse(bytes: number): void {
    if (this.#bytes + bytes > this.#budgetBytes) {
      throw payloadTooLarge(
        `parsing this JSON body would hold about ${this.#bytes + bytes} bytes with the body, more than this server gives one request (${this.#budgetBytes}); send large tensors with the binary extension`,
      );
    }
    this.take(bytes);
  }

  release(): void {
    this.#release();
  }
}

/**
 * The request's body within `limitBytes` (413 beyond, as readBodyLimited) and within the
 * isolate's budget (503): the declared Content-Length is taken before anything is read, else each
 * chunk as it arrives.
 */
export async function readBodyWithinBudget(request: Request, limitBytes: number, hold: BodyHold): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  try {
    // A declared length over the per-request limit is readBodyLimited's 413, taken from no budget.
    if (Number.isSafeInteger(declared) && declared >= 0 && declared <= limitBytes) {
      hold.take(declared);
      // One native read of a body whose size is known and allowed: reading it chunk by chunk from
      // JavaScript cost more CPU than parsing it (profile in BENCHMARKS.md). HTTP framing holds
      // the body to its Content-Length; a Request made in the isolate could differ, so the size is
      // checked again, and the difference counted, once it is read.
      const body = new Uint8Array(await request.arrayBuffer());
      if (body.byteLength > limitBytes) throw payloadTooLarge(`request body exceeds the limit of ${limitBytes} bytes`);
      if (body.byteLength > declared) hold.take(body.byteLength - declared);
      return body;
    }
    return await readBodyLimited(request, limitBytes, (bytes) => hold.take(bytes));
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // The client's stream broke or ended early: its fault, not a 500 of ours.
    throw new HttpError(400, "the request body could not be read: it broke off before its end");
  }
}
