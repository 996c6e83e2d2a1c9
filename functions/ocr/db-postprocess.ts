/**
 * @module DB post-processing (PaddleOCR's DBPostProcess): the detector's text probability map
 * into line boxes in the original page's pixels, in reading order. The map is thresholded, its
 * 8-connected regions are found, each region's box is kept when the mean probability inside it
 * is high enough, then grown by DB's unclip distance (the net predicts a shrunk text kernel),
 * scaled back to the page and sorted top to bottom, then left to right.
 *
 * Boxes are axis-aligned: PaddleOCR fits a rotated rectangle (cv2.minAreaRect) and grows the
 * polygon with pyclipper; for horizontal text, the rectangle is the region's bounding box and the
 * grown polygon's is that box grown by the same distance on every side, so the result is the
 * same. Rotated or curved text gets the box around it instead of a tight quadrilateral.
 *
 * Linear in the map's pixels; pure TS.
 */
import { payloadTooLarge } from "../../protocol/errors.ts";

export interface DbOptions {
  /** A pixel is text above this probability (det_db_thresh). */
  threshold: number;
  /** A region is kept when its mean probability is at least this (det_db_box_thresh). */
  boxThreshold: number;
  /** How much the shrunk kernel is grown back (det_db_unclip_ratio). */
  unclipRatio: number;
}

/**
 * PaddleOCR's thresholds, with the unclip ratio of PaddleX's PP-OCRv4 pipeline (2.0, not the older
 * 1.5): at 1.5 the box hugs the glyphs and the recogniser drops the spaces between words.
 */
export const DB_DEFAULTS: DbOptions = { threshold: 0.3, boxThreshold: 0.6, unclipRatio: 2 };

/** PaddleOCR's min_size: thinner regions are noise, and a grown box this thin too. */
const MIN_SIDE = 3;

/** Corners clockwise from the top left, [x, y] in page pixels. */
export type Quad = [[number, number], [number, number], [number, number], [number, number]];

export interface TextBox {
  box: Quad;
  /** The same box as edges, for cropping: x0 <= x < x1, y0 <= y < y1. */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** Mean probability of the map inside the region's box. */
  score: number;
}

export interface ProbabilityMap {
  /** Row-major [height, width] (the [1, 1, H, W] output of one page). */
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * Boxes of text in a page of `pageWidth` x `pageHeight` from its map, in reading order; 413 when
 * there are more than `maxBoxes`, found before the sort, whose cost grows faster than linearly.
 */
export function textBoxes(map: ProbabilityMap, pageWidth: number, pageHeight: number, options: DbOptions = DB_DEFAULTS, maxBoxes = Infinity): TextBox[] {
  const regions = regionsAbove(map, options.threshold);
  const meanInside = boxMeans(map);
  const scaleX = pageWidth / map.width;
  const scaleY = pageHeight / map.height;
  const boxes: TextBox[] = [];
  for (const region of regions) {
    // As cv2.minAreaRect measures the region: between the centres of its outermost pixels.
    const width = region.maxX - region.minX;
    const height = region.maxY - region.minY;
    const score = meanInside(region);
    if (score < options.boxThreshold) continue;
    // DB's unclip: the polygon grows by area * ratio / perimeter on every side.
    const distance = (width * height * options.unclipRatio) / (2 * (width + height));
    if (Math.min(width, height) + 2 * distance < MIN_SIDE + 2) continue;
    const clampX = (x: number) => Math.min(Math.max(Math.round(x * scaleX), 0), pageWidth);
    const clampY = (y: number) => Math.min(Math.max(Math.round(y * scaleY), 0), pageHeight);
    const x0 = clampX(region.minX - distance);
    const x1 = clampX(region.maxX + distance);
    const y0 = clampY(region.minY - distance);
    const y1 = clampY(region.maxY + distance);
    // PaddleOCR's filter_tag_det_res: a box at most 3 px across in the page is dropped.
    if (x1 - x0 <= MIN_SIDE || y1 - y0 <= MIN_SIDE) continue;
    const box: Quad = [
      [x0, y0],
      [x1, y0],
      [x1, y1],
      [x0, y1],
    ];
    boxes.push({ box, x0, y0, x1, y1, score });
  }
  if (boxes.length > maxBoxes) throw payloadTooLarge(`the page has ${boxes.length} text lines; ocr reads at most ${maxBoxes} in one call`);
  return readingOrder(boxes);
}

/**
 * Top to bottom, then left to right: sorted by top edge, then neighbours on one row (tops
 * closer than half the shorter box's height) are put left to right, as PaddleOCR's
 * sorted_boxes does with its fixed 10 px, here relative so it holds at any scale.
 */
export function readingOrder(boxes: TextBox[]): TextBox[] {
  const sorted = [...boxes].sort((a, b) => a.y0 - b.y0 || a.x0 - b.x0);
  for (let i = 0; i < sorted.length - 1; i++) {
    for (let j = i; j >= 0; j--) {
      const upper = sorted[j]!;
      const lower = sorted[j + 1]!;
      const sameRow = Math.abs(lower.y0 - upper.y0) < Math.min(upper.y1 - upper.y0, lower.y1 - lower.y0) / 2;
      if (!sameRow || lower.x0 >= upper.x0) break;
      sorted[j] = lower;
      sorted[j + 1] = upper;
    }
  }
  return sorted;
}

interface Region {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/** 8-connected regions of pixels above `threshold` (cv2.findContours' outer contours), by flood fill. */
function regionsAbove(map: ProbabilityMap, threshold: number): Region[] {
  const { data, width, height } = map;
  const seen = new Uint8Array(width * height);
  const stack = new Int32Array(width * height);
  const regions: Region[] = [];
  for (let start = 0; start < data.length; start++) {
    if (seen[start] || !(data[start]! > threshold)) continue;
    const region = { minX: width, minY: height, maxX: -1, maxY: -1 };
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    while (top > 0) {
      const at = stack[--top]!;
      const x = at % width;
      const y = (at - x) / width;
      if (x < region.minX) region.minX = x;
      if (x > region.maxX) region.maxX = x;
      if (y < region.minY) region.minY = y;
      if (y > region.maxY) region.maxY = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const next = ny * width + nx;
          if (seen[next] || !(data[next]! > threshold)) continue;
          seen[next] = 1;
          stack[top++] = next;
        }
      }
    }
    // Thinner than MIN_SIDE between outermost centres, as cv2.minAreaRect measures: noise. Kept
    // regions are at least 4 x 4 pixels, so a map holds at most one per 16 of its pixels.
    if (region.maxX - region.minX >= MIN_SIDE && region.maxY - region.minY >= MIN_SIDE) regions.push(region);
  }
  return regions;
}

/**
 * PaddleOCR's box_score_fast, the mean probability over a box's pixels (edges included), from a
 * summed-area table: O(1) per box, so nested regions with large boxes cannot make scoring
 * quadratic in the page.
 */
function boxMeans(map: ProbabilityMap): (region: Region) => number {
  const { data, width, height } = map;
  const stride = width + 1;
  const sums = new Float64Array(stride * (height + 1));
  for (let y = 0; y < height; y++) {
    let rowSum = 0;
    for (let x = 0; x < width; x++) {
      rowSum += data[y * width + x]!;
      sums[(y + 1) * stride + x + 1] = sums[y * stride + x + 1]! + rowSum;
    }
  }
  return ({ minX, minY, maxX, maxY }) => {
    const sum = sums[(maxY + 1) * stride + maxX + 1]! - sums[minY * stride + maxX + 1]! - sums[(maxY + 1) * stride + minX]! + sums[minY * stride + minX]!;
    return sum / ((maxX - minX + 1) * (maxY - minY + 1));
  };
}
