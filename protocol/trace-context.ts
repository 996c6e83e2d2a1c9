/**
 * @module W3C Trace Context (`traceparent: 00-<trace id>-<parent span id>-<flags>`): what a
 * client's header says, a fresh trace when it says nothing usable, and the child span id each
 * hop (router, ModelHost, origin) takes, so one slow request can be followed across them. The
 * ids are random (crypto.getRandomValues), so they are made per request, never at module load.
 */

export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero: this hop's span. */
  spanId: string;
  /** The trace flags byte as two hex digits (`01`: sampled). */
  flags: string;
}

/** Version 00 exactly; a later version's first four fields read the same (the spec's forward rule), anything after them is ignored. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The client's trace context, or undefined when the header is missing or malformed (an all-zero id, version ff, upper case...). */
export function parseTraceparent(raw: string | null | undefined): TraceContext | undefined {
  const match = TRACEPARENT.exec(raw?.trim() ?? "");
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return { traceId: traceId!, spanId: spanId!, flags: flags! };
}

/** The trace this hop belongs to: the caller's (with a new span id of its own) when it sent a valid one, else a new sampled trace. */
export function continueTrace(raw: string | null | undefined): TraceContext {
  const parent = parseTraceparent(raw);
  return parent ? childSpan(parent) : { traceId: randomHex(16), spanId: randomHex(8), flags: "01" };
}

/** The same trace under a new span id: the context the next hop is called with. */
export function childSpan(parent: TraceContext): TraceContext {
  return { ...parent, spanId: randomHex(8) };
}

export function formatTraceparent(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.flags}`;
}

/** Two hex digits per byte value: ids are made on every request, so no per-byte formatting. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
/** Reused for each id (a request's ids are made one after another, never at once). */
const RANDOM = new Uint8Array(16);

/** `bytes` random bytes as lowercase hex, never all zero (the spec's invalid id). */
function randomHex(bytes: number): string {
  const values = crypto.getRandomValues(RANDOM.subarray(0, bytes));
  let hex = "";
  let zero = true;
  for (let i = 0; i < bytes; i++) {
    zero &&= values[i] === 0;
    hex += HEX[i === bytes - 1 && zero ? 1 : values[i]!];
  }
  return hex;
}
