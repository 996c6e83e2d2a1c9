/**
 * @module How much of an isolate a warm onnxruntime-web session of a model takes: what the host
 * memory budget counts, and what the upload route checks before accepting an edge model. One
 * estimate for both, so a model the admin accepts is one a host will agree to load.
 *
 * onnxruntime-web copies the model into the wasm heap and then allocates its initializers there
 * as well, and the heap never shrinks: a session costs about twice the file, plus a fixed part
 * for the graph and the run arena.
 */

/** The per-session part that does not grow with the file (graph, kernels, run arena). */
export const SESSION_OVERHEAD_BYTES = 2 * 1024 * 1024;

/** Bytes a warm session of a model file of `modelBytes` holds in the isolate. */
export function warmSessionBytes(modelBytes: number): number {
  return 2 * modelBytes + SESSION_OVERHEAD_BYTES;
}
