/**
 * @module How much of an isolate a warm onnxruntime-web session of a model takes: what the host
 * memory budget counts, and what the upload route checks before accepting an edge model. One
 * estimate for both, so a model the admin accepts is one a host will agree to load.
 *
 * onnxruntime-web copies the model into the wasm heap and then allocates its initializers there
 * as well, and the heap never shrinks: a session costs about twice the file, plus a fixed part
 * for the graph and the run arena.
 *
 * Measured with onnxruntime-web 1.30's wasm build (the wasm Memory's size, in Node), five sessions
 * of one model loaded one after another: the heap grew 1.7 times the file per session for
 * mlp-wide (6.0 MB) and PP-OCR (10.3 MB), 2.8 times for Silero (1.2 MB, mostly the fixed part);
 * the first load's peak, freed after and reused by later loads, reached 2.9 and 3.3 times. So
 * the estimate is above what each session keeps; a load's passing peak is not counted, which is
 * one reason a host runs one load at a time (HOST_MAX_CONCURRENT_LOADS) under a budget well
 * below the isolate's 128 MB.
 */

/** The per-session part that does not grow with the file (graph, kernels, run arena). */
export const SESSION_OVERHEAD_BYTES = 2 * 1024 * 1024;

/** Bytes a warm session of a model file of `modelBytes` holds in the isolate. */
export function warmSessionBytes(modelBytes: number): number {
  return 2 * modelBytes + SESSION_OVERHEAD_BYTES;
}
