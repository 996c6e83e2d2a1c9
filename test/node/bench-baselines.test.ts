/**
 * The `start` scenario's in-run baselines: the model's own batching gain (batch-ceiling.ts)
 * runs the batch the host would merge, the local hop (rpc-hop.ts) gets calls through a Durable
 * Object in a second workerd process and in the router's own, and the bare path on the `npm start`
 * stack (BENCH_ROUTES=1) answers what the full path answers, and a new replica warms. Figures are not asserted beyond what
 * holds on any machine: a baseline that measured the wrong thing shows here.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { batchCeiling } from "../../scripts/bench/batch-ceiling.ts";
import { NpmStartStack } from "../../scripts/bench/npm-start-stack.ts";
import { measureRpcHop } from "../../scripts/bench/rpc-hop.ts";
import { modelFile } from "../../scripts/bench/stack.ts";

const BATCH = 16;

/** One 36 ms Silero frame (576 samples with the previous 64) of a 440 Hz tone, zero state, 16 kHz. */
function sileroRequest(): Uint8Array {
  const frame = Array.from({ length: 576 }, (_, k) => Math.round(Math.sin((2 * Math.PI * 440 * k) / 16_000) * 1024) / 4096);
  const body = {
    inputs: [
      { name: "input", datatype: "FP32", shape: [1, 576], data: frame },
      { name: "state", datatype: "FP32", shape: [2, 1, 128], data: new Array<number>(256).fill(0) },
      { name: "sr", datatype: "INT64", shape: [], data: [16_000] },
    ],
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

test("the batching ceiling runs the merged batch: a run of 16 rows takes longer than a run of one, and costs less per row", async () => {
  const ceiling = await batchCeiling(modelFile("silero-vad"), sileroRequest(), BATCH, 1);
  assert.equal(ceiling.batch, BATCH);
  for (const runtime of [ceiling.web, ceiling.node]) {
    // Had the merge not built 16 rows, the batched run would take about as long as one row's.
    assert.ok(runtime.batched.runMs > 2 * runtime.single.runMs, `batched ${runtime.batched.runMs} ms vs single ${runtime.single.runMs} ms`);
    assert.ok(Math.abs(runtime.batched.rowMs * BATCH - runtime.batched.runMs) < 1e-9);
    assert.ok(runtime.gain > 1, `gain ${runtime.gain}`);
  }
});

test("the local hop's calls go through in both topologies, and the second process costs more per call", { timeout: 120_000 }, async () => {
  const hop = await measureRpcHop(1, 1_500, AbortSignal.timeout(110_000));
  const { "two processes": two, "one process": one } = hop.callMs;
  assert.ok(Number.isFinite(two) && Number.isFinite(one), JSON.stringify(hop));
  assert.ok(two > one, `two processes ${two} ms, one ${one} ms`);
  assert.equal(hop.localHopMs, two - one);
});

test(
  "on the npm start stack with BENCH_ROUTES=1 the bare path answers the full path's outputs, without a key, and its stages cut it short",
  { timeout: 300_000 },
  async () => {
    const stack = await NpmStartStack.start({ port: 8867, originPort: 0, vars: { BENCH_ROUTES: "1" } });
    try {
      const outputs = async (path: string, headers: Record<string, string>) => {
        const response = await fetch(`${stack.url}${path}`, {
          method: "POST",
          body: sileroRequest(),
          headers: { "content-type": "application/json", ...headers },
        });
        const text = await response.text();
        assert.equal(response.status, 200, `${path}: ${text.slice(0, 300)}`);
        return (JSON.parse(text) as { outputs: { name: string; data: number[] }[] }).outputs;
      };
      const full = await outputs("/v2/models/silero-vad/infer", { authorization: `Bearer ${stack.keys.premium}` });
      const bare = await outputs("/bench/bare/silero-vad/infer", {});
      assert.deepEqual(
        bare.map((o) => o.name),
        ["output", "stateN"],
      );
      assert.deepEqual(bare, full);

      // The breakdown's stages (start-breakdown.ts): the same path cut short, or run twice.
      assert.deepEqual(await outputs("/bench/bare/silero-vad/infer?runs=0", {}), []);
      assert.deepEqual(await outputs("/bench/bare/silero-vad/infer?runs=2", {}), full);
      const parsed = await fetch(`${stack.url}/bench/parse/silero-vad`, { method: "POST", body: sileroRequest() });
      assert.deepEqual([parsed.status, await parsed.json()], [200, { inputs: 3 }]);
      for (const runs of ["5", "-1", "", "1.5"]) {
        const refused = await fetch(`${stack.url}/bench/bare/silero-vad/infer?runs=${runs}`, { method: "POST", body: sileroRequest() });
        assert.equal(refused.status, 400, `runs=${runs}`);
        assert.match(((await refused.json()) as { error: string }).error, /^runs must be an integer from 0 to 4, got /);
      }
      const malformed = await fetch(`${stack.url}/bench/parse/silero-vad`, { method: "POST", body: '{"inputs": [' });
      assert.equal(malformed.status, 400);

      // The cold part's new replica (start-cold.ts): a new object brings the session up, then frees it.
      const warm = await fetch(`${stack.url}/bench/warm/silero-vad?replica=1000`, { method: "POST" });
      assert.deepEqual([warm.status, await warm.json()], [200, { replica: 1000, sessions: 1 }]);
      for (const replica of ["0", "999", "1100", "1e3", ""]) {
        const refused = await fetch(`${stack.url}/bench/warm/silero-vad?replica=${replica}`, { method: "POST" });
        assert.equal(refused.status, 400, `replica=${replica}`);
        assert.match(((await refused.json()) as { error: string }).error, /^replica must be an integer from 1000 to 1099$/);
      }
    } finally {
      await stack.stop();
    }
  },
);
