/**
 * @module The lines of a page as batched PP-OCR recognition inputs, as PaddleOCR's TextRecognizer
 * batches them: each line is cropped from the original page (when its batch is built, one line at
 * a time: boxes may overlap, and 200 boxes that each cover most of a page would otherwise hold
 * 200 copies of it), the lines are sorted by aspect ratio
 * (so a batch holds lines of similar length and little padding), cut into batches of at most the
 * model's max_batch, and each batch is one tensor [n, 3, 48, W]: every line scaled to height 48
 * keeping its aspect ratio, normalised, and padded with zeros (mid grey once normalised, what the
 * model was trained with) to the batch's common width W. Pure TS.
 */
import type { Tensor } from "../../protocol/oip/tensor.ts";
import type { RgbImage } from "./image.ts";
import { PPOCR_REC_HEIGHT, ppocrRecInput } from "./preprocess.ts";
import { resizeToHeight } from "./resize.ts";

/** PaddleOCR's rec_image_shape width: a batch is never narrower (a short word is padded to it). */
const MIN_BATCH_WIDTH = 320;
/**
 * 512 time steps, as ocr-line allows. A longer box (a rule or border read as text) is squeezed to
 * this width rather than refusing the whole page; at 8 lines that is a 19 MB batch tensor.
 */
export const MAX_LINE_WIDTH = 4096;

/** The pixels of `box` (x0 <= x < x1, y0 <= y < y1) copied out of the page. */
export function cropLine(page: RgbImage, box: { x0: number; y0: number; x1: number; y1: number }): RgbImage {
  const width = box.x1 - box.x0;
  const height = box.y1 - box.y0;
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((box.y0 + y) * page.width + box.x0) * 3;
    rgb.set(page.rgb.subarray(from, from + width * 3), y * width * 3);
  }
  return { rgb, width, height };
}

/**
 * The output of a batch is [n, W / 8, 6625] floats, 3.3 MB per line 1000 px wide: a batch is cut
 * short of max_batch before its output passes this, so a page of long lines does not hold a
 * hundred megabytes in the host and the router at once.
 */
export const MAX_BATCH_OUTPUT_BYTES = 24 * 1024 * 1024;
const REC_CLASSES = 6625;

/**
 * Indices into `lines`, shortest aspect ratio first, cut into groups of at most `maxBatch` lines
 * whose output stays within MAX_BATCH_OUTPUT_BYTES (always at least one line).
 */
export function recBatches(lines: readonly Sized[], maxBatch: number): number[][] {
  const order = lines.map((_, i) => i).sort((a, b) => ratio(lines[a]!) - ratio(lines[b]!) || a - b);
  const batches: number[][] = [];
  let batch: number[] = [];
  for (const index of order) {
    // Sorted by ratio, so this line sets the batch's width.
    const rowBytes = (batchWidth(ratio(lines[index]!)) / 8) * REC_CLASSES * 4;
    if (batch.length > 0 && (batch.length >= maxBatch || (batch.length + 1) * rowBytes > MAX_BATCH_OUTPUT_BYTES)) {
      batches.push(batch);
      batch = [];
    }
    batch.push(index);
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** PaddleOCR's batch width: the widest line's at height 48, never under MIN_BATCH_WIDTH. */
function batchWidth(widestRatio: number): number {
  return Math.min(Math.trunc(PPOCR_REC_HEIGHT * Math.max(MIN_BATCH_WIDTH / PPOCR_REC_HEIGHT, widestRatio)), MAX_LINE_WIDTH);
}

/**
 * The input tensor `x` of one batch: built when its run is due, so only one batch is in memory at
 * a time; `pixels` gives a line's pixels (its crop of the page), asked for one line after another.
 */
export function recBatchInput(lines: readonly Sized[], batch: readonly number[], pixels: (index: number) => RgbImage): Tensor {
  const width = batchWidth(Math.max(...batch.map((i) => ratio(lines[i]!))));
  const plane = PPOCR_REC_HEIGHT * width;
  const data = new Float32Array(batch.length * 3 * plane);
  batch.forEach((index, row) => {
    const line = pixels(index);
    const scaledWidth = Math.min(Math.ceil(PPOCR_REC_HEIGHT * ratio(line)), width);
    const scaled = resizeToHeight(line, PPOCR_REC_HEIGHT, scaledWidth);
    const normalised = ppocrRecInput(scaled.rgb, scaledWidth, PPOCR_REC_HEIGHT);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < PPOCR_REC_HEIGHT; y++) {
        const from = c * PPOCR_REC_HEIGHT * scaledWidth + y * scaledWidth;
        data.set(normalised.subarray(from, from + scaledWidth), (row * 3 + c) * plane + y * width);
      }
    }
  });
  return { name: "x", datatype: "FP32", shape: [batch.length, 3, PPOCR_REC_HEIGHT, width], data };
}

/** A line's size: all that sorting and batching need. */
export interface Sized {
  width: number;
  height: number;
}

const ratio = (line: Sized) => line.width / line.height;
