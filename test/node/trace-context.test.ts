/** @module W3C traceparent ids as the router and the origin make them: well formed, random, never all zero; a client's header parsed or refused. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { childSpan, continueTrace, formatTraceparent, parseTraceparent } from "../../protocol/trace-context.ts";

test("a new trace is a well-formed, sampled traceparent with fresh ids each time", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1_000; i++) {
    const trace = continueTrace(undefined);
    const header = formatTraceparent(trace);
    assert.match(header, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.doesNotMatch(trace.traceId, /^0+$/);
    assert.doesNotMatch(trace.spanId, /^0+$/);
    assert.deepEqual(parseTraceparent(header), trace);
    seen.add(trace.traceId);
  }
  assert.equal(seen.size, 1_000);
  // Every hex digit turns up in 32,000 random ones: the ids are not drawn from part of the range.
  assert.equal(new Set([...seen].join("")).size, 16);
});

test("a client's trace is continued under a new span id; a malformed one starts a new trace", () => {
  const client = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const continued = continueTrace(client);
  assert.equal(continued.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.notEqual(continued.spanId, "00f067aa0ba902b7");
  assert.notEqual(childSpan(continued).spanId, continued.spanId);
  for (const bad of [
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    "junk",
  ]) {
    assert.equal(parseTraceparent(bad), undefined, bad);
    assert.notEqual(continueTrace(bad).traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  }
});
