/**
 * @module PP-OCR text-line recognition input from pixels: pure TS (no Node APIs) so the same code
 * runs in a Worker function and in Node fixture scripts. Resizing to height 48 happens upstream.
 */
import { badRequest } from "../../protocol/errors.ts";

/** The PP-OCR rec models take lines exactly this tall. */
export const PPOCR_REC_HEIGHT = 48;

/**
 * RGB8 interleaved pixels (row-major, 3 bytes per pixel) -> Float32Array NCHW [1, 3, 48, width],
 * each value (x / 255 - 0.5) / 0.5, i.e. in [-1, 1].
 *
 * Channel order is B, G, R: PaddleOCR trained these models on OpenCV images (cv2.imread gives BGR)
 * and feeds them in that order. For black-on-white text it makes no difference; for colour it does.
 */
export function ppocrRecInput(rgb: Uint8Array, width: number, height: number): Float32Array {
  if (height !== PPOCR_REC_HEIGHT) {
    throw badRequest(`ppocrRecInput: height must be ${PPOCR_REC_HEIGHT}, got ${height}`);
  }
  if (!Number.isInteger(width) || width < 1 || rgb.length !== width * height * 3) {
    throw badRequest(`ppocrRecInput: expected ${width}x${height}x3 bytes, got ${rgb.length}`);
  }
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      // Output channel c takes source channel 2 - c (RGB -> BGR).
      out[c * plane + p] = (rgb[p * 3 + (2 - c)]! / 255 - 0.5) / 0.5;
    }
  }
  return out;
}
