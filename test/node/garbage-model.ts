/**
 * @module A prepared-models folder for the dev edge holding one "model" whose record is sound and
 * whose bytes match their sha256 but are not ONNX: what tests of failed origin loads serve.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Writes `<root>/models` with `garbage@1` and its manifest; returns that folder (paths in it are relative to `root`). */
export function writeGarbageModel(root: string): string {
  const bytes = new TextEncoder().encode("these bytes are not an ONNX model");
  const dir = join(root, "models");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "garbage.onnx"), bytes);
  const entry = {
    name: "garbage",
    version: "1",
    path: "models/garbage.onnx",
    sha256: createHash("sha256").update(bytes).digest("hex"),
    bytes: bytes.byteLength,
    placement: "origin",
    maxBatch: 1,
    inputs: [{ name: "input", datatype: "FP32", shape: [-1, 4] }],
    outputs: [{ name: "output", datatype: "FP32", shape: [-1, 4] }],
  };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify([entry]));
  return dir;
}
