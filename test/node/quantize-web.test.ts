/**
 * @module The int8 copies run in onnxruntime-web's wasm build, the one the edge uses, and give what
 * onnxruntime-node gives on the same file (within 1e-4); the int8 mlp-heavy session grows the wasm
 * memory by well under what the fp32 file alone would take. Also: probe inputs are the same for the
 * same seed, differ for another, and set dynamic dimensions to 1.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as ortNode from "onnxruntime-node";
import { halvesToFloats } from "../../protocol/oip/fp16.ts";
import { catalogEntry, modelBytes } from "../../scripts/models/catalog.ts";
import { decodeModel, modelSignature } from "../../scripts/models/onnx-graph.ts";
import { ortWeb } from "../../scripts/models/ort-web-node.ts";
import { probeInputs } from "../../scripts/models/probe-inputs.ts";
import { runProbes } from "../../scripts/models/probe-run.ts";
import { quantizeModel } from "../../scripts/models/quantize.ts";

const WEB_NODE_TOLERANCE = 1e-4;

for (const name of ["mlp-tiny", "mlp-heavy"]) {
  test(`int8 ${name}: onnxruntime-web gives onnxruntime-node's outputs within ${WEB_NODE_TOLERANCE}`, async () => {
    const fp32 = modelBytes(catalogEntry(name));
    const int8 = quantizeModel(fp32, { mode: "int8" }).bytes;
    const signature = modelSignature(decodeModel(int8));
    const probes = probeInputs(signature.inputs, 4);
    const web = await ortWeb();
    const before = web.memoryBytes();
    const webSession = await web.ort.InferenceSession.create(int8, { graphOptimizationLevel: "all" });
    const grown = web.memoryBytes() - before;
    const nodeSession = await ortNode.InferenceSession.create(int8);
    const fromWeb = await runProbes(web.ort, webSession, probes, signature.outputs);
    const fromNode = await runProbes(ortNode, nodeSession, probes, signature.outputs);
    let worst = 0;
    fromWeb.forEach((outputs, p) =>
      outputs.forEach((output, o) => {
        const expected = fromNode[p]![o]!.values;
        assert.equal(output.values.length, expected.length);
        for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(output.values[i]! - expected[i]!));
      }),
    );
    assert.ok(worst <= WEB_NODE_TOLERANCE, `max |web - node| ${worst}`);
    await Promise.all([webSession.release(), nodeSession.release()]);
    // The weights stay 8-bit in the session: had they been folded back to fp32, the fp32 weights
    // alone (4x the int8 file) would have had to fit in the memory grown.
    if (name === "mlp-heavy") assert.ok(grown < 3.5 * int8.length, `wasm memory grew ${grown} for a ${int8.length}-byte file`);
  });
}

test("probe inputs: same seed same values, another seed other values, dynamic dimensions 1", () => {
  const signature = [
    { name: "x", datatype: "FP32", shape: [-1, 3] },
    { name: "h", datatype: "FP16", shape: [2, -1] },
    { name: "ids", datatype: "INT64", shape: [4] },
  ];
  const first = probeInputs(signature, 2, 5);
  assert.deepEqual(probeInputs(signature, 2, 5), first);
  assert.notDeepEqual(probeInputs(signature, 2, 6)[0]![0]!.data, first[0]![0]!.data);
  assert.deepEqual(
    first[0]!.map((t) => t.shape),
    [[1, 3], [2, 1], [4]],
  );
  for (const value of first[0]![0]!.data as Float32Array) assert.ok(value >= -1 && value < 1 && Number.isInteger(value * 1024));
  for (const id of first[0]![2]!.data as BigInt64Array) assert.ok(id >= 0n && id < 16n);
  assert.throws(() => probeInputs([{ name: "s", datatype: "BYTES", shape: [1] }], 1), /send probe inputs/);
});

test("an FP16 input gets exactly the values an FP32 input gets from the same seed", () => {
  const asFloat = probeInputs([{ name: "x", datatype: "FP32", shape: [4096] }], 1, 3)[0]![0]!.data;
  const asHalf = probeInputs([{ name: "x", datatype: "FP16", shape: [4096] }], 1, 3)[0]![0]!.data as Uint16Array;
  assert.deepEqual(halvesToFloats(asHalf), asFloat);
});
