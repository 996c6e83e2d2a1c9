/**
 * @module The prepared models the end-to-end tests upload (`npm run models` writes them): where
 * each file is, its input width, and what the manifest says of it.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../../scripts/lib/wrangler-dev.ts";

export interface ModelFile {
  name: string;
  version: string;
  file: string;
  /** Columns of its `input` tensor (the generated MLPs take `[rows, width]`). */
  width: number;
}

/** The origin's demo model: 1024-4096-4096-1024, 100.7 MB. */
export const HEAVY: ModelFile = { name: "mlp-heavy", version: "1", file: join(REPO_ROOT, ".hotpath/models/mlp-heavy/1/model.onnx"), width: 1024 };
/** mlp-heavy's int8 copy (25.3 MB), which `npm run models` writes and `npm start` registers as its edge variant `int8`. */
export const HEAVY_INT8: ModelFile = { ...HEAVY, file: join(REPO_ROOT, ".hotpath/models/mlp-heavy/1/int8/model.onnx") };
/** 256-1024-1024-256, 6 MB: fast enough to overload one edge replica with. */
export const WIDE: ModelFile = { name: "mlp-wide", version: "1", file: join(REPO_ROOT, ".hotpath/fixtures/mlp-wide.onnx"), width: 256 };
/** 16-32-32-4, 7 KB: for tests about anything but the model. */
export const TINY: ModelFile = { name: "mlp-tiny", version: "1", file: join(REPO_ROOT, ".hotpath/models/mlp-tiny/1/model.onnx"), width: 16 };

export interface ManifestEntry {
  name: string;
  version: string;
  sha256: string;
  placement: string;
}

/** The manifest's entry for a model, after checking its file is there. */
export function manifestEntry(model: ModelFile): ManifestEntry {
  assert.ok(existsSync(model.file), `${model.file} is missing: run \`npm run models\` first`);
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, ".hotpath/models/manifest.json"), "utf8")) as ManifestEntry[];
  const entry = manifest.find((m) => m.name === model.name && m.version === model.version);
  assert.ok(entry, `${model.name}@${model.version} is not in .hotpath/models/manifest.json`);
  return entry;
}

/** Checks every model file a test file needs before it starts anything. */
export function assertPrepared(...models: ModelFile[]): void {
  for (const model of models) assert.ok(existsSync(model.file), `${model.file} is missing: run \`npm run models\` first`);
}
