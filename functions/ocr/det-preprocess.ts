/**
 * @module PP-OCR text detection input from a page: the size the page is scaled to and the
 * normalised tensor, as PaddleOCR's DB inference prepares it (DetResizeForTest with limit_type
 * "max", then NormalizeImage and ToCHWImage). Pure TS, so the Worker and the Node reference run
 * the same code.
 */
import type { RgbImage } from "./image.ts";
import { resizeToHeight } from "./resize.ts";

/** The longest side the page is scaled down to (PaddleOCR's det_limit_side_len). */
export const DET_LIMIT_SIDE = 960;
/** The DB net halves the page five times: both sides must be multiples of 32. */
const DET_STRIDE = 32;

/**
 * PaddleOCR's ImageNet statistics, applied in the order of the channels it feeds: its images come
 * from cv2.imread (BGR), so B is normalised with the red statistics and so on. The model was
 * trained that way; copying the quirk is what makes its maps match PaddleOCR's.
 */
const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

export interface DetInput {
  /** NCHW [1, 3, height, width], BGR, (v / 255 - mean) / std. */
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * The detection size of a page: scaled so its longest side is at most `limitSide` (never up),
 * then each side rounded to the nearest multiple of 32, at least 32 (resize_image_type0).
 */
export function detSize(width: number, height: number, limitSide = DET_LIMIT_SIDE): { width: number; height: number } {
  const ratio = Math.max(width, height) > limitSide ? limitSide / Math.max(width, height) : 1;
  const round = (side: number) => Math.max(Math.round((side * ratio) / DET_STRIDE) * DET_STRIDE, DET_STRIDE);
  return { width: round(width), height: round(height) };
}

export function detInput(page: RgbImage, limitSide = DET_LIMIT_SIDE): DetInput {
  const { width, height } = detSize(page.width, page.height, limitSide);
  const { rgb } = resizeToHeight(page, height, width);
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      // Output channel c takes source channel 2 - c (RGB -> BGR).
      data[c * plane + p] = (rgb[p * 3 + (2 - c)]! / 255 - MEAN[c]!) / STD[c]!;
    }
  }
  return { data, width, height };
}
