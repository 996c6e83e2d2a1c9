/**
 * @module Measures the heap that parseInferRequest builds for each 1 MB junk body before it refuses
 * it: run `node --expose-gc --max-semi-space-size=256 scripts/measure-junk-heap.ts`. The big semi
 * space keeps a scavenge from freeing the garbage mid-parse, so heapUsed after minus before is
 * what the parse allocated. "JSON.parse alone" is what the parser built before the scan existed.
 */
import { parseInferRequest } from "../protocol/oip/infer-request.ts";
import { junkBodies } from "../test/node/junk-bodies.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");
const MB = 1 << 20;
const limits = { maxTensorElements: 4_194_304, maxInputs: 64 };
const decoder = new TextDecoder();

function grown(run: () => unknown): number {
  gc!();
  const before = process.memoryUsage().heapUsed;
  let kept: unknown;
  try {
    kept = run();
  } catch (error) {
    kept = error;
  }
  const after = process.memoryUsage().heapUsed;
  void kept;
  return (after - before) / MB;
}

for (const [name, body] of Object.entries(junkBodies())) {
  const json = decoder.decode(body);
  const parseOnly = grown(() => JSON.parse(json));
  let outcome = "accepted";
  const request = grown(() => {
    try {
      return parseInferRequest(body, undefined, limits);
    } catch (error) {
      outcome = (error as Error).message.slice(0, 70);
      throw error;
    }
  });
  console.log(
    `${name.padEnd(36)} ${(body.byteLength / MB).toFixed(2)} MB body: JSON.parse alone +${parseOnly.toFixed(1)} MB, parseInferRequest +${request.toFixed(2)} MB (${outcome})`,
  );
}
