/**
 * @module What a request holds (a tenant's in-flight slot, its body's share of the budget) goes
 * back when its client goes away, not only in its `finally`: a cancelled request's own `finally`
 * may never run.
 */

/**
 * Makes `release` (idempotent) run once `signal` aborts, or at once when it already has (no event
 * would come). Returns the release to call when done, which also stops listening.
 */
export function releasedOnAbort(signal: AbortSignal | undefined, release: () => void): () => void {
  const done = () => {
    signal?.removeEventListener("abort", done);
    release();
  };
  signal?.addEventListener("abort", done);
  if (signal?.aborted) done();
  return done;
}
