/**
 * @module The quantised variants prepare-models writes next to a catalog model:
 * `<root>/<name>/<version>/<mode>/model.onnx` (mlp-heavy@1's int8 copy is
 * `.hotpath/models/mlp-heavy/1/int8/model.onnx`), made with quantizeModel.
 *
 * Quantising mlp-heavy takes about a second, so it is skipped when a stamp beside the variant
 * says it was made from the same source bytes by the same quantiser code and the file still has
 * the bytes it was written with.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { quantizeModel, type QuantizeMode } from "./quantize.ts";

export interface PreparedVariant {
  mode: QuantizeMode;
  /** The variant's model.onnx, absolute. */
  path: string;
  sha256: string;
  bytes: number;
  written: boolean;
}

interface Stamp {
  source: string;
  code: string;
  sha256: string;
  bytes: number;
}

const QUANTIZER_FILES = ["quantize.ts", "quantize-int8.ts", "quantize-fp16.ts", "weight-nodes.ts", "onnx-graph.ts"];

const sha256 = (bytes: Uint8Array | string): string => createHash("sha256").update(bytes).digest("hex");

/** A digest of the quantiser's own source: a change to it remakes the variants. */
function quantizerDigest(): string {
  return sha256(QUANTIZER_FILES.map((file) => readFileSync(new URL(file, import.meta.url), "utf8")).join("\0"));
}

function readStamp(path: string): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Stamp;
  } catch {
    return undefined;
  }
}

function fileSha(path: string): string | undefined {
  try {
    return sha256(readFileSync(path));
  } catch {
    return undefined;
  }
}

/** Writes (or keeps) `mode`'s variant of the model whose bytes are `source`, in `versionDir`. */
export function prepareVariant(versionDir: string, source: Uint8Array, sourceSha: string, mode: QuantizeMode): PreparedVariant {
  const dir = resolve(versionDir, mode);
  const path = resolve(dir, "model.onnx");
  const stampPath = resolve(dir, "stamp.json");
  const code = quantizerDigest();
  const stamp = readStamp(stampPath);
  if (stamp && stamp.source === sourceSha && stamp.code === code && fileSha(path) === stamp.sha256) {
    return { mode, path, sha256: stamp.sha256, bytes: stamp.bytes, written: false };
  }
  const bytes = quantizeModel(source, { mode }).bytes;
  const digest = sha256(bytes);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path, bytes);
  const fresh: Stamp = { source: sourceSha, code, sha256: digest, bytes: bytes.length };
  writeFileSync(stampPath, `${JSON.stringify(fresh, null, 2)}\n`);
  return { mode, path, sha256: digest, bytes: bytes.length, written: true };
}
