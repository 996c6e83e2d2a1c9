/**
 * @module `npm run gpu-kit`: bundles what a GPU machine runs into `dist/gpu/` (docs/gpu.md: that
 * machine may have no network and no node_modules, only what is copied to it). One ES module per
 * entry point, with onnxruntime-node left out (`scripts/gpu/pack.sh` puts it in `.gpu/`):
 * - `server.mjs` and `inference-worker.mjs`: the origin server and its model thread (the server
 *   finds the worker beside itself);
 * - `prepare-models.mjs`: generates `mlp-heavy` on the machine (101 MB: cheaper to make there than to copy);
 * - `bench.mjs`: `npm run bench` (its `origin-ep` scenario compares webgpu with cpu).
 * `dist/gpu/` sits two levels below the repository root like `scripts/lib/`, so the bundles find
 * `.hotpath/` where the sources do. Then, on the GPU machine: `bash scripts/gpu/origin-ep.sh`.
 */
import { build } from "esbuild";
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../lib/wrangler-dev.ts";

const OUT = join(REPO_ROOT, "dist/gpu");
const ENTRIES = {
  server: "origin/server.ts",
  "inference-worker": "origin/inference-worker.ts",
  "prepare-models": "scripts/prepare-models.ts",
  bench: "scripts/bench.ts",
};

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, path]) => [name, join(REPO_ROOT, path)])),
  outdir: OUT,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node24",
  external: ["onnxruntime-node"],
  // CommonJS dependencies (onnx-proto, protobufjs) call require() for Node's built-ins.
  banner: { js: 'import { createRequire as __hotpathRequire } from "node:module"; const require = __hotpathRequire(import.meta.url);' },
  logLevel: "warning",
});
for (const name of Object.keys(ENTRIES)) {
  const file = join(OUT, `${name}.mjs`);
  console.log(`${file.slice(REPO_ROOT.length)}: ${(statSync(file).size / 1e6).toFixed(2)} MB`);
}
console.log("then, with .gpu/ (scripts/gpu/pack.sh) and dist/gpu/ copied to the GPU machine: bash scripts/gpu/origin-ep.sh");
