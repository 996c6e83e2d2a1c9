/**
 * @module A PNG or JPEG body to 8-bit RGB pixels: decoded by fast-png (every PNG colour type and
 * bit depth: grey, grey + alpha, RGB, RGBA, palette) and jpeg-js (baseline and progressive,
 * grey or colour), then brought to one layout here. Transparency is composited over white, the
 * page a line of text is printed on. The pixel count is checked before decoding (from the PNG
 * header, or by jpeg-js's own limit), so a small file that inflates to a huge image is refused
 * before it takes the isolate's memory; a PNG's chunks are checked against that header first
 * (png-chunks.ts), a JPEG's scans counted (jpeg-scans.ts). Everything wrong with the file is a
 * 400 that says what.
 */
import { convertIndexedToRgb, decode as decodePng, hasPngSignature, type DecodedPng } from "fast-png";
import jpegJs from "jpeg-js";
import { badRequest, payloadTooLarge } from "../../protocol/errors.ts";
import { checkJpegScans } from "./jpeg-scans.ts";
import { checkedPng, readPngHeader } from "./png-chunks.ts";

/** 4 megapixels: a text line 300 px tall and 13,000 wide; at 16-bit RGBA, 32 MB while decoding. */
export const MAX_IMAGE_PIXELS = 4 * 1024 * 1024;

export interface RgbImage {
  /** Row-major, 3 bytes per pixel. */
  rgb: Uint8Array;
  width: number;
  height: number;
}

export function decodeImage(body: Uint8Array, mediaType: string): RgbImage {
  if (body.length === 0) throw badRequest("the body is empty: send a PNG or JPEG image");
  return mediaType === "image/png" ? pngToRgb(body) : jpegToRgb(body);
}

function pngToRgb(body: Uint8Array): RgbImage {
  if (!hasPngSignature(body)) throw badRequest("the body is not a PNG image (no PNG signature)");
  const checked = checkedPng(body, readPngHeader(body, checkPixels));
  let png: DecodedPng;
  try {
    png = decodePng(checked);
  } catch (error) {
    throw badRequest(`the body is not a readable PNG image: ${messageOf(error)}`);
  }
  if (png.palette) {
    let indexed: Uint8Array;
    try {
      indexed = convertIndexedToRgb(png);
    } catch (error) {
      // A pixel that names a colour past the palette's end.
      throw badRequest(`the PNG's pixels do not fit its palette: ${messageOf(error)}`);
    }
    return toRgb(indexed, png.width, png.height, png.palette[0]?.length ?? 3, 8);
  }
  const samples = png.depth < 8 ? unpackBits(png) : png.data;
  return toRgb(samples, png.width, png.height, png.channels, png.depth);
}

function jpegToRgb(body: Uint8Array): RgbImage {
  checkJpegScans(body);
  let jpeg: { width: number; height: number; data: Uint8Array };
  try {
    jpeg = jpegJs.decode(body, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
      maxMemoryUsageInMB: 64,
    });
  } catch (error) {
    const message = messageOf(error);
    if (/maxResolutionInMP|maxMemoryUsageInMB/.test(message)) throw payloadTooLarge(`the image is larger than ${MAX_IMAGE_PIXELS} pixels`);
    throw badRequest(`the body is not a readable JPEG image: ${message}`);
  }
  if (jpeg.width === 0 || jpeg.height === 0) throw badRequest("the JPEG has no pixels");
  return { rgb: jpeg.data, width: jpeg.width, height: jpeg.height };
}

function checkPixels(width: number, height: number): void {
  if (width === 0 || height === 0) throw badRequest(`the image is ${width}x${height}: it has no pixels`);
  if (width * height > MAX_IMAGE_PIXELS) throw payloadTooLarge(`the image is ${width}x${height}, more than ${MAX_IMAGE_PIXELS} pixels`);
}

/**
 * Samples of 1 to 4 channels (grey, grey + alpha, RGB, RGBA) at 8 or 16 bits, or fewer bits
 * already unpacked to one per value, to RGB8 over white.
 */
function toRgb(samples: ArrayLike<number>, width: number, height: number, channels: number, depth: number): RgbImage {
  const pixels = width * height;
  const max = (1 << depth) - 1;
  const alpha = channels === 2 || channels === 4;
  const colour = channels >= 3;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const at = p * channels;
    const opacity = alpha ? samples[at + channels - 1]! / max : 1;
    for (let c = 0; c < 3; c++) {
      const value = samples[at + (colour ? c : 0)]! / max;
      rgb[p * 3 + c] = Math.round(255 * (value * opacity + (1 - opacity)));
    }
  }
  return { rgb, width, height };
}

/** Grey at 1, 2 or 4 bits per pixel (the only colour type with such depths besides palette): one value per pixel. Rows start on a byte. */
function unpackBits(png: DecodedPng): Uint8Array {
  const { width, height, depth, data } = png;
  const rowBytes = Math.ceil((width * depth) / 8);
  const out = new Uint8Array(width * height);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      out[y * width + x] = (data[y * rowBytes + (bit >> 3)]! >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
