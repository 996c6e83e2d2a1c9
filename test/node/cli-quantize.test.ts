/**
 * @module `hotpath models quantize` as a user runs it (bin/hotpath.js in its own process, no server):
 * it writes a file onnxruntime loads, prints the sizes and the probe error, answers `--json`, and
 * refuses with one line a file that is not ONNX, a missing file, no mode, and the input as output.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import * as ort from "onnxruntime-node";
import { runCli, type CliResult } from "../e2e/harness/cli.ts";
import type { QuantizeAnswer } from "../../scripts/cli/commands/quantize.ts";
import { REPO_ROOT } from "../../scripts/models/catalog.ts";

const TINY = join(REPO_ROOT, ".hotpath/models/mlp-tiny/1/model.onnx");
const scratch = mkdtempSync(join(tmpdir(), "hotpath-cli-quantize-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function assertOneLineFailure(result: CliResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, "");
  assert.doesNotMatch(result.stderr, /^\s+at /m, "a stack trace");
  assert.match(result.stderr.split("\n")[0]!, pattern);
}

test("--int8 writes a loadable file and prints sizes and the probe error", async () => {
  const out = join(scratch, "tiny-int8.onnx");
  const result = await runCli(["models", "quantize", TINY, out, "--int8", "--probes", "8"]);
  assert.equal(result.code, 0, result.stderr);
  const size = statSync(out).size;
  assert.match(result.stdout, new RegExp(`size: +7\\.4 kB -> ${(size / 1e3).toFixed(1).replace(".", "\\.")} kB`));
  assert.match(result.stdout, /3 MatMul\/Gemm node\(s\) quantised/);
  assert.match(result.stdout, /on 8 probe inputs/);
  assert.match(result.stdout, /^output +\d\.\d\de-\d +\d\.\d\de-\d +100\.0% of 8$/m);
  const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(out)));
  assert.deepEqual(session.inputNames, ["input"]);
});

test("--json answers the sizes, the nodes and the error per output", async () => {
  const out = join(scratch, "tiny-fp16.onnx");
  const result = await runCli(["--json", "models", "quantize", TINY, out, "--fp16"]);
  assert.equal(result.code, 0, result.stderr);
  const answer = JSON.parse(result.stdout) as QuantizeAnswer;
  assert.equal(answer.mode, "fp16");
  assert.equal(answer.bytesBefore, statSync(TINY).size);
  assert.equal(answer.bytesAfter, statSync(out).size);
  assert.deepEqual(answer.quantized, ["fc0", "fc1", "fc2"]);
  assert.equal(answer.probeError!.probes, 16);
  const [output] = answer.probeError!.outputs;
  assert.equal(output!.name, "output");
  assert.ok(output!.maxAbsolute > 0 && output!.maxRelative < 0.002, JSON.stringify(output));
  assert.equal(output!.top1Agreement, 1);
});

test("--probes 0 writes without measuring", async () => {
  const out = join(scratch, "tiny-no-probes.onnx");
  const answer = JSON.parse((await runCli(["--json", "models", "quantize", TINY, out, "--int8", "--probes", "0"])).stdout) as QuantizeAnswer;
  assert.equal(answer.probeError, undefined);
  assert.ok(existsSync(out));
});

test("a file that is not ONNX is refused with one line and nothing is written", async () => {
  const notOnnx = join(scratch, "notes.onnx");
  writeFileSync(notOnnx, "these are notes, not a model\n");
  const out = join(scratch, "never.onnx");
  assertOneLineFailure(await runCli(["models", "quantize", notOnnx, out, "--int8"]), 1, /^error: .*notes\.onnx is not an ONNX model: /);
  assert.ok(!existsSync(out));
});

test("usage errors: a missing file, no mode, both modes, the input as output", async () => {
  assertOneLineFailure(await runCli(["models", "quantize", join(scratch, "absent.onnx"), join(scratch, "x.onnx"), "--fp16"]), 1, /^error: no such file: /);
  assertOneLineFailure(await runCli(["models", "quantize", TINY, join(scratch, "x.onnx")]), 2, /^error: give exactly one of --int8 and --fp16$/);
  assertOneLineFailure(await runCli(["models", "quantize", TINY, join(scratch, "x.onnx"), "--int8", "--fp16"]), 2, /^error: give exactly one/);
  assertOneLineFailure(await runCli(["models", "quantize", TINY, TINY, "--int8"]), 1, /^error: the output must be another file than the input$/);
  assertOneLineFailure(await runCli(["models", "quantize", TINY, join(scratch, "x.onnx"), "--int8", "--probes", "-1"]), 2, /--probes/);
});
