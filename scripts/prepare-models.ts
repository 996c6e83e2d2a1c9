/**
 * @module Materialises the model catalog under .hotpath/models (one model.onnx per name/version
 * plus manifest.json, and quantised variants such as mlp-heavy/1/int8/model.onnx) so the edge, the
 * origin and the tests load the same bytes. Idempotent.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import type { TensorSpec } from "../protocol/oip/tensor.ts";
import { CATALOG, REPO_ROOT, modelBytes, readRepoFile } from "./models/catalog.ts";
import type { CatalogEntry } from "./models/catalog.ts";
import type { Placement } from "../protocol/model-record.ts";
import { prepareVariant } from "./models/prepare-variants.ts";
import type { QuantizeMode } from "./models/quantize.ts";

export interface ManifestAsset {
  name: string;
  path: string;
  sha256: string;
  bytes: number;
}

export interface ManifestEntry {
  name: string;
  version: string;
  /** model.onnx, relative to the repository root, with forward slashes. */
  path: string;
  sha256: string;
  bytes: number;
  placement: Placement;
  maxBatch: number;
  description: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Side files next to model.onnx (ppocr-rec: ppocr_keys_v1.txt). */
  assets?: ManifestAsset[];
  /** Quantised copies beside model.onnx (mlp-heavy: int8), same inputs and outputs. */
  variants?: ManifestVariant[];
}

export interface ManifestVariant {
  /** The variant's name, which is its quantisation mode. */
  name: QuantizeMode;
  path: string;
  sha256: string;
  bytes: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function readIfPresent(path: string): Uint8Array | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** Writes only when the content differs, so reruns keep mtimes (and file watchers) quiet. */
function writeIfChanged(path: string, bytes: Uint8Array, sha256: string): boolean {
  const existing = readIfPresent(path);
  if (existing && existing.length === bytes.length && sha256Hex(existing) === sha256) return false;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  return true;
}

function repoRelative(path: string): string {
  return relative(REPO_ROOT, path).split(sep).join("/");
}

function prepareOne(entry: CatalogEntry, root: string): ManifestEntry {
  const started = performance.now();
  const dir = resolve(root, entry.name, entry.version);
  const bytes = modelBytes(entry);
  const sha256 = sha256Hex(bytes);
  const modelPath = resolve(dir, "model.onnx");
  let written = writeIfChanged(modelPath, bytes, sha256);
  const assets = (entry.assets ?? []).map((asset): ManifestAsset => {
    const assetBytes = readRepoFile(asset.path);
    const assetSha = sha256Hex(assetBytes);
    const assetPath = resolve(dir, asset.name);
    written = writeIfChanged(assetPath, assetBytes, assetSha) || written;
    return { name: asset.name, path: repoRelative(assetPath), sha256: assetSha, bytes: assetBytes.length };
  });
  const variants = (entry.variants ?? []).map((mode): ManifestVariant => {
    const variant = prepareVariant(dir, bytes, sha256, mode);
    written = variant.written || written;
    return { name: mode, path: repoRelative(variant.path), sha256: variant.sha256, bytes: variant.bytes };
  });
  const ms = (performance.now() - started).toFixed(0);
  const size = (bytes.length / 1e6).toFixed(2);
  console.log(`${entry.name}@${entry.version}: ${size} MB sha256 ${sha256.slice(0, 12)} ` + `${written ? "written" : "unchanged"} (${ms} ms)`);
  return {
    name: entry.name,
    version: entry.version,
    path: repoRelative(modelPath),
    sha256,
    bytes: bytes.length,
    placement: entry.placement,
    maxBatch: entry.maxBatch,
    description: entry.description,
    inputs: entry.inputs,
    outputs: entry.outputs,
    ...(assets.length > 0 ? { assets } : {}),
    ...(variants.length > 0 ? { variants } : {}),
  };
}

/** Writes every catalog model and `<root>/manifest.json`; a relative root is under the repo root. */
export function prepareModels(root = ".hotpath/models", catalog: CatalogEntry[] = CATALOG): ManifestEntry[] {
  const absoluteRoot = resolve(REPO_ROOT, root);
  const manifest = catalog.map((entry) => prepareOne(entry, absoluteRoot));
  const json = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  writeIfChanged(resolve(absoluteRoot, "manifest.json"), json, sha256Hex(json));
  return manifest;
}

/** True when this file is the process entry point (realpath: ESM URLs resolve symlinks). */
function isMain(): boolean {
  const entry = process.argv[1];
  return entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href;
}

if (isMain()) {
  // `prepare-models.ts [root] [name ...]`: names limit the catalog (a GPU machine needs only mlp-heavy).
  const [root, ...names] = process.argv.slice(2);
  const unknown = names.filter((name) => !CATALOG.some((entry) => entry.name === name));
  if (unknown.length > 0) throw new Error(`not in the catalog: ${unknown.join(", ")}; choose from ${CATALOG.map((e) => e.name).join(", ")}`);
  const started = performance.now();
  const manifest = prepareModels(root, names.length > 0 ? CATALOG.filter((entry) => names.includes(entry.name)) : CATALOG);
  console.log(`${manifest.length} models ready in ${(performance.now() - started).toFixed(0)} ms`);
}
