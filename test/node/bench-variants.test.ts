/**
 * The `variants` benchmark's counting and requests: answers marked by the platform's own
 * Server-Timing (a Hono app with the servers' middleware writes the headers) are counted as
 * degraded with their reason, "within the deadline" is a 200 within the client's deadline, and
 * the request bodies carry `parameters.variant` as the router reads it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { INFERENCE_HEADER_LENGTH_HEADER } from "../../protocol/headers.ts";
import { addTiming, noteTiming, serverTiming } from "../../protocol/http/server-timing.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import type { Outcome } from "../../scripts/bench/load.ts";
import { heavyBody } from "../../scripts/bench/variants-setup.ts";
import { answeredVariant, degradedReason, summarizeOverload, withinDeadlineRatio } from "../../scripts/bench/variants-summary.ts";

/** The Server-Timing header the routers write for an answer by the default, and by a degraded variant. */
async function timingHeaders(): Promise<{ plain: string; degraded: string; pinned: string }> {
  const app = new Hono();
  app.use(serverTiming());
  app.get("/plain", (c) => {
    addTiming(c, "origin", 12.5);
    noteTiming(c, "served", "origin:local");
    return c.text("");
  });
  app.get("/degraded", (c) => {
    noteTiming(c, "variant", "int8");
    noteTiming(c, "degraded", "deadline");
    addTiming(c, "infer", 3.25);
    return c.text("");
  });
  app.get("/pinned", (c) => {
    noteTiming(c, "variant", "int8");
    return c.text("");
  });
  const header = async (path: string) => (await app.request(path)).headers.get("server-timing") ?? "";
  return { plain: await header("/plain"), degraded: await header("/degraded"), pinned: await header("/pinned") };
}

function outcome(status: number, latencyMs: number, timing?: string): Outcome {
  return { label: "", status, sentAt: 0, latencyMs, retryAfter: undefined, batch: undefined, server: undefined, timing, error: undefined, message: undefined };
}

test("the variant and the reason are read from the platform's Server-Timing; the default's answers have neither", async () => {
  const headers = await timingHeaders();
  assert.equal(answeredVariant(outcome(200, 1, headers.degraded)), "int8");
  assert.equal(degradedReason(outcome(200, 1, headers.degraded)), "deadline");
  assert.equal(answeredVariant(outcome(200, 1, headers.pinned)), "int8");
  assert.equal(degradedReason(outcome(200, 1, headers.pinned)), undefined);
  assert.equal(answeredVariant(outcome(200, 1, headers.plain)), undefined);
  assert.equal(answeredVariant(outcome(0, 1)), undefined);
});

test("an overload run: served within the deadline only for 200s within it; degraded share, refusals and the rest counted apart", async () => {
  const headers = await timingHeaders();
  const outcomes = [
    outcome(200, 150, headers.plain),
    outcome(200, 1_999, headers.degraded),
    outcome(200, 2_400, headers.degraded), // served, but after the deadline
    outcome(200, 40, headers.pinned),
    outcome(503, 2),
    outcome(503, 3),
    outcome(429, 1),
    outcome(504, 2_001),
    outcome(0, 4_000), // the client gave up
  ];
  const s = summarizeOverload(outcomes, 2_000);
  assert.equal(s.sent, 9);
  assert.equal(s.served, 4);
  assert.equal(s.withinDeadline, 3);
  assert.equal(s.degraded, 3);
  assert.deepEqual(s.reasons, { deadline: 2, pinned: 1 });
  assert.deepEqual([s.refused503, s.refused429, s.expired504, s.other], [2, 1, 1, 1]);
  assert.equal(s.p50, 150); // nearest rank over 40, 150, 1999, 2400
  assert.equal(s.p99, 2_400);

  const none = summarizeOverload([outcome(503, 1)], 2_000);
  assert.equal(none.withinDeadline, 0);
  assert.ok(Number.isNaN(withinDeadlineRatio(s, none)), "no ratio over nothing served");
  assert.equal(withinDeadlineRatio(s, summarizeOverload(outcomes.slice(0, 1), 2_000)), 3);
});

test("request bodies: rows x 1024 FP32, parameters.variant as given, none when the tier may choose", () => {
  const read = (body: ReturnType<typeof heavyBody>) =>
    parseInferRequest(body.body, Number(body.headers[INFERENCE_HEADER_LENGTH_HEADER]), { maxTensorElements: 1 << 20, maxInputs: 4 });
  const pinned = read(heavyBody(64, "default"));
  assert.equal(pinned.parameters.variant, "default");
  assert.deepEqual(pinned.inputs[0]?.shape, [64, 1024]);
  assert.equal(pinned.inputs[0]?.datatype, "FP32");
  assert.equal(read(heavyBody(1, "int8")).parameters.variant, "int8");
  const free = read(heavyBody(1));
  assert.equal(free.parameters.variant, undefined);
  assert.deepEqual(free.inputs[0]?.shape, [1, 1024]);
});
