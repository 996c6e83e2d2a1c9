/**
 * @module Checks the model catalog, the generated MLP, the OCR pre/post-processing and the
 * fixtures against onnxruntime-node, so the edge tests that reuse them start from known-good data.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import { ctcGreedyDecode, parseKeys } from "../../functions/ocr/ctc-decode.ts";
import { ppocrRecInput } from "../../functions/ocr/preprocess.ts";
import { makeFixtures, TEXTLINE } from "../../scripts/make-fixtures.ts";
import type { Fixture } from "../../scripts/make-fixtures.ts";
import { CATALOG, MLP_TINY_SPEC, REPO_ROOT, catalogEntry, modelBytes, readRepoFile } from "../../scripts/models/catalog.ts";
import { generateMlp, mlpForward, mlpWeights, mulberry32 } from "../../scripts/models/mlp.ts";
import { prepareModels, sha256Hex } from "../../scripts/prepare-models.ts";

const scratch = mkdtempSync(join(tmpdir(), "hotpath-models-test-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "length");
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** The bytes a fixture was made with: the catalog's version 1, or a test-only version next to the fixtures. */
function fixtureModelBytes(fixture: Fixture, fixturesDir: string): Uint8Array {
  if (fixture.version === "1") return modelBytes(catalogEntry(fixture.model));
  return readFileSync(join(fixturesDir, `${fixture.model}-v${fixture.version}.onnx`));
}

async function runFixture(fixture: Fixture, fixturesDir: string): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(fixtureModelBytes(fixture, fixturesDir));
  const feeds: Record<string, ort.Tensor> = {};
  for (const t of fixture.inputs) {
    feeds[t.name] =
      t.datatype === "INT64"
        ? new ort.Tensor("int64", BigInt64Array.from(t.data, BigInt), t.shape)
        : new ort.Tensor("float32", Float32Array.from(t.data), t.shape);
  }
  return session.run(feeds);
}

describe("mlp generator", () => {
  test("mlp-tiny bytes are deterministic and depend on the seed", () => {
    const first = sha256Hex(generateMlp(MLP_TINY_SPEC));
    assert.equal(sha256Hex(generateMlp(MLP_TINY_SPEC)), first);
    assert.equal(sha256Hex(modelBytes(catalogEntry("mlp-tiny"))), first);
    assert.notEqual(sha256Hex(generateMlp({ ...MLP_TINY_SPEC, seed: MLP_TINY_SPEC.seed + 1 })), first);
  });

  test("onnxruntime-node matches the plain-JS forward pass within 1e-5", async () => {
    const weights = mlpWeights(MLP_TINY_SPEC);
    const session = await ort.InferenceSession.create(generateMlp(MLP_TINY_SPEC, weights));
    const batch = 5;
    const random = mulberry32(99);
    const input = Float32Array.from({ length: batch * 16 }, () => random() * 4 - 2);
    const result = await session.run({ input: new ort.Tensor("float32", input, [batch, 16]) });
    const output = result["output"]!;
    assert.deepEqual(output.dims, [batch, 4]);
    const expected = mlpForward(weights, input, batch);
    assert.ok(maxAbsDiff(output.data as Float32Array, expected) < 1e-5);
    // Outputs stay O(1) and are not degenerate (all-zero or constant would hide a broken graph).
    const magnitude = Math.max(...Array.from(expected, Math.abs));
    assert.ok(magnitude > 0.1 && magnitude < 10, `max |output| ${magnitude}`);
    assert.ok(new Set(expected).size > 10);
  });
});

describe("catalog", () => {
  test("declared inputs and outputs match what onnxruntime-node reports", async () => {
    const typeOf: Record<string, string> = { float32: "FP32", int64: "INT64" };
    for (const entry of CATALOG) {
      const session = await ort.InferenceSession.create(modelBytes(entry));
      const actual = (meta: readonly ort.InferenceSession.ValueMetadata[]) =>
        meta.map((m) => {
          assert.ok(m.isTensor);
          return { name: m.name, datatype: typeOf[m.type], shape: m.shape.map((d) => (typeof d === "number" ? d : -1)) };
        });
      assert.deepEqual(actual(session.inputMetadata), entry.inputs, `${entry.name} inputs`);
      assert.deepEqual(actual(session.outputMetadata), entry.outputs, `${entry.name} outputs`);
    }
  });

  test("PP-OCR classes are blank + keys + space", async () => {
    const keys = parseKeys(new TextDecoder().decode(readRepoFile(catalogEntry("ppocr-rec").assets![0]!.path)));
    assert.equal(keys.length, 6623);
    assert.equal(keys[5709], "\u3000", "ideographic space key kept, not trimmed");
    assert.equal(catalogEntry("ppocr-rec").outputs[0]!.shape[2], keys.length + 2);
  });
});

describe("ocr helpers", () => {
  test("ctcGreedyDecode merges repeats, splits on blank, maps the last class to a space", () => {
    const keys = ["a", "b"]; // classes: 0 blank, 1 a, 2 b, 3 space
    const steps = [1, 1, 0, 1, 3, 2, 2, 0];
    const probs = new Float32Array(steps.length * 4);
    steps.forEach((c, t) => {
      probs.fill(0.1, t * 4, t * 4 + 4);
      probs[t * 4 + c] = 0.7;
    });
    const result = ctcGreedyDecode(probs, steps.length, 4, keys);
    assert.equal(result.text, "aa b");
    assert.ok(Math.abs(result.confidence - 0.7) < 1e-6);
    assert.throws(() => ctcGreedyDecode(probs, steps.length, 4, ["a"]));
  });

  test("parseKeys keeps blank-looking keys and drops only the final newline", () => {
    assert.deepEqual(parseKeys("a\r\n \nb\n"), ["a", " ", "b"]);
  });

  test("ppocrRecInput is NCHW, BGR, scaled to [-1, 1]", () => {
    const width = 2;
    const rgb = new Uint8Array(width * 48 * 3);
    rgb.set([255, 0, 51], 0); // pixel 0: R=255 G=0 B=51
    const x = ppocrRecInput(rgb, width, 48);
    const plane = width * 48;
    assert.equal(x.length, 3 * plane);
    assert.ok(Math.abs(x[0]! - (51 / 255 - 0.5) / 0.5) < 1e-6); // channel 0 = blue
    assert.equal(x[plane], -1); // channel 1 = green
    assert.equal(x[2 * plane], 1); // channel 2 = red
    assert.equal(x[1], -1); // pixel 1 is black
    assert.throws(() => ppocrRecInput(rgb, width, 32));
  });
});

describe("fixtures", () => {
  let fixtures: Record<string, Fixture>;
  const dir = join(scratch, "fixtures");
  before(async () => {
    fixtures = await makeFixtures(dir);
  });

  test("are byte-for-byte reproducible", async () => {
    const again = join(scratch, "fixtures-again");
    await makeFixtures(again);
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, readdirSync(again).sort());
    for (const file of files) {
      assert.equal(sha256Hex(readFileSync(join(again, file))), sha256Hex(readFileSync(join(dir, file))), file);
    }
  });

  test("stored outputs are what onnxruntime-node gives for the stored inputs", async () => {
    for (const [file, fixture] of Object.entries(fixtures)) {
      const written = JSON.parse(readFileSync(join(dir, file), "utf8")) as Fixture;
      assert.deepEqual(written, fixture, `${file} on disk`);
      const results = await runFixture(written, dir);
      for (const output of written.outputs) {
        const actual = results[output.name]!;
        assert.deepEqual(actual.dims, output.shape, `${file} ${output.name} shape`);
        assert.ok(maxAbsDiff(actual.data as Float32Array, output.data) < 1e-6, `${file} ${output.name}`);
      }
    }
  });

  test("the text line decodes exactly to the rendered text", async () => {
    const fixture = fixtures["ppocr-textline.json"]!;
    assert.equal(fixture.expectedText, TEXTLINE);
    const probs = (await runFixture(fixture, dir))["softmax_11.tmp_0"]!;
    const [, timesteps, classes] = probs.dims as [number, number, number];
    const keys = parseKeys(new TextDecoder().decode(readRepoFile(catalogEntry("ppocr-rec").assets![0]!.path)));
    const result = ctcGreedyDecode(probs.data as Float32Array, timesteps, classes, keys);
    assert.equal(result.text, TEXTLINE);
    assert.ok(result.confidence > 0.9, `confidence ${result.confidence}`);
  });

  test("silero: speech frame is confidently speech, silence is not", async () => {
    const prob = async (file: string) => {
      const output = (await runFixture(fixtures[file]!, dir))["output"]!;
      return (output.data as Float32Array)[0]!;
    };
    const speech = await prob("silero-speech.json");
    const silence = await prob("silero-silence.json");
    // Measured with onnxruntime-node 1.30: speech 0.916, silence 0.0017.
    assert.ok(speech > 0.8, `speech ${speech}`);
    assert.ok(silence < 0.02, `silence ${silence}`);
    assert.equal(fixtures["silero-speech.json"]!.inputs[0]!.shape[1], 576);
  });

  test("mlp-tiny outputs equal the plain-JS forward pass", () => {
    const fixture = fixtures["mlp-tiny.json"]!;
    const input = Float32Array.from(fixture.inputs[0]!.data);
    const expected = mlpForward(mlpWeights(MLP_TINY_SPEC), input, fixture.inputs[0]!.shape[0]!);
    assert.ok(maxAbsDiff(fixture.outputs[0]!.data, expected) < 1e-5);
  });
});

describe("prepareModels", () => {
  test("writes every catalog model with a manifest whose sha256 match, and repairs changed files", () => {
    const root = join(scratch, "models");
    const manifest = prepareModels(root);
    assert.deepEqual(
      manifest.map((m) => m.name),
      CATALOG.map((e) => e.name),
    );
    const onDisk = JSON.parse(readFileSync(join(root, "manifest.json"), "utf8")) as typeof manifest;
    assert.deepEqual(onDisk, manifest);
    const check = () => {
      for (const entry of onDisk) {
        const bytes = readFileSync(resolve(REPO_ROOT, entry.path));
        assert.equal(bytes.length, entry.bytes, entry.name);
        assert.equal(sha256Hex(bytes), entry.sha256, entry.name);
        for (const asset of entry.assets ?? []) {
          assert.equal(sha256Hex(readFileSync(resolve(REPO_ROOT, asset.path))), asset.sha256, asset.name);
        }
      }
    };
    check();
    const tiny = resolve(REPO_ROOT, onDisk.find((m) => m.name === "mlp-tiny")!.path);
    writeFileSync(tiny, "corrupt");
    assert.throws(check);
    prepareModels(root);
    check();
  });
});
