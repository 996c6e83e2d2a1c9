/**
 * @module The wire's header names, in one place: both servers, the pool client, the scripts
 * and the tests read them from here, so a rename cannot leave one side behind.
 */

/** OIP binary_tensor_data extension: the length of the JSON header before the binary tensors. */
export const INFERENCE_HEADER_LENGTH_HEADER = "inference-header-content-length";
/** Where an answer ran: `edge:<region>/<replica>` or `origin:<id>`. */
export const SERVED_BY_HEADER = "x-served-by";
/** The scheduler load an origin reports on every answer (JSON), read by the edge's pool. */
export const LOAD_HEADER = "x-hotpath-load";
/** The tenant an edge forwards a request for, so an origin can share its queue fairly. */
export const TENANT_HEADER = "x-hotpath-tenant";
/** A client's deadline in milliseconds (the OIP body's `parameters.timeout` is microseconds). */
export const TIMEOUT_HEADER = "x-hotpath-timeout-ms";
/** The sha256 of model bytes the edge sends an origin. */
export const MODEL_SHA256_HEADER = "x-model-sha256";
/** W3C Trace Context: the request's trace id and the sender's span id (protocol/trace-context.ts). */
export const TRACEPARENT_HEADER = "traceparent";
/** Whether an answer came from the edge's response cache: `hit` or `miss` (only on versions that cache). */
export const CACHE_RESULT_HEADER = "x-hotpath-cache";
/** The model variant that answered (`int8`, ...) when it was not the version's default bytes. */
export const VARIANT_HEADER = "x-hotpath-variant";
/** A variant upload's probe inputs: an OIP JSON request body (`{"inputs": [...]}`) the accuracy guard runs. */
export const PROBE_INPUTS_HEADER = "x-hotpath-probe-inputs";
