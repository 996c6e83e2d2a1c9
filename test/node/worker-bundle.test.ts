/**
 * @module The deploy bundle as Miniflare modules (scripts/lib/worker-bundle.ts): each file of
 * `wrangler deploy --dry-run --outdir` typed by wrangler's module rules, the entry first, source
 * maps and wrangler's README left out, and an unknown file refused rather than loaded as the wrong type.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, test } from "node:test";
import { bundleModules } from "../../scripts/lib/worker-bundle.ts";

const dir = mkdtempSync(join(tmpdir(), "hotpath-bundle-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function files(...names: string[]): string {
  const folder = mkdtempSync(join(dir, "out-"));
  for (const name of names) writeFileSync(join(folder, name), "");
  return folder;
}

test("the entry comes first; the wasm is CompiledWasm and the dictionary Text; maps and README are left out", () => {
  const folder = files("0a-keys.txt", "81e6-ort-wasm-simd-threaded.wasm", "README.md", "index.js", "index.js.map");
  const modules = bundleModules(folder).map((m) => [basename(m.path), m.type]);
  assert.deepEqual(modules, [
    ["index.js", "ESModule"],
    ["0a-keys.txt", "Text"],
    ["81e6-ort-wasm-simd-threaded.wasm", "CompiledWasm"],
  ]);
});

test("the dashboard's page scripts and styles, split out by wrangler.toml's Text rule, are Text; the entry's own chunks stay ES modules", () => {
  const hash = "67765ea7ba4809bf6f4bb691fac615673891c53c";
  const folder = files(`${hash}-main.js`, `${hash}-uPlot.min.css`, "chunk.js", "index.js");
  const modules = bundleModules(folder).map((m) => [basename(m.path), m.type]);
  assert.deepEqual(modules, [
    ["index.js", "ESModule"],
    [`${hash}-main.js`, "Text"],
    [`${hash}-uPlot.min.css`, "Text"],
    ["chunk.js", "ESModule"],
  ]);
});

test("a file of an unknown type, or no entry, is an error that says what to do", () => {
  assert.throws(() => bundleModules(files("index.js", "model.onnx")), /model\.onnx, whose module type is unknown/);
  assert.throws(() => bundleModules(files("chunk.js")), /has no index\.js/);
});
