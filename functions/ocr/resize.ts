/**
 * @module Scales an RGB8 image to a given height, keeping its aspect ratio, with bilinear
 * interpolation (what PaddleOCR's cv2.resize does by default for text lines). Pixel centres are
 * aligned as OpenCV aligns them, so a line already at the height comes back unchanged.
 */
import type { RgbImage } from "./image.ts";

export function resizeToHeight(image: RgbImage, height: number, width: number): RgbImage {
  if (image.height === height && image.width === width) return image;
  const { rgb: source, width: sourceWidth, height: sourceHeight } = image;
  const rgb = new Uint8Array(width * height * 3);
  const scaleX = sourceWidth / width;
  const scaleY = sourceHeight / height;
  for (let y = 0; y < height; y++) {
    const sy = Math.min(Math.max((y + 0.5) * scaleY - 0.5, 0), sourceHeight - 1);
    const y0 = Math.floor(sy);
    const y1 = Math.min(y0 + 1, sourceHeight - 1);
    const fy = sy - y0;
    for (let x = 0; x < width; x++) {
      const sx = Math.min(Math.max((x + 0.5) * scaleX - 0.5, 0), sourceWidth - 1);
      const x0 = Math.floor(sx);
      const x1 = Math.min(x0 + 1, sourceWidth - 1);
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = source[(y0 * sourceWidth + x0) * 3 + c]! * (1 - fx) + source[(y0 * sourceWidth + x1) * 3 + c]! * fx;
        const bottom = source[(y1 * sourceWidth + x0) * 3 + c]! * (1 - fx) + source[(y1 * sourceWidth + x1) * 3 + c]! * fx;
        rgb[(y * width + x) * 3 + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return { rgb, width, height };
}
