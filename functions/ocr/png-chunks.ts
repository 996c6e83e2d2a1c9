/**
 * @module A PNG's chunks checked before the decoder sees them, so that what it inflates is
 * bounded by the header that was checked. A decoder follows the file: it honours an IHDR after
 * the first (a 1x1 header, then one of 16 megapixels), inflates compressed ancillary chunks
 * (an ICC profile of 256 MB from 261 KB) and decodes animation frames, and inflates image data
 * with no cap (a 1x1 image whose IDAT holds 128 MB of zeros in 130 KB). Here: one IHDR, first;
 * the image data inflates to exactly what that header says, counted as it streams by in small
 * steps (so no step can build much); the decoded size is within MAX_DECODED_BYTES; a palette
 * image has its palette; and the chunks a line of text has no use for (iCCP, zTXt, iTXt and
 * the APNG frames) are left out of what the decoder is given.
 */
import { Unzlib } from "fflate";
import { badRequest, payloadTooLarge } from "../../protocol/errors.ts";

/** Bytes the image data may inflate to: 5 megapixels of 8-bit RGBA, or 4 of 8-bit RGB with room; not 4 of 16-bit RGBA (32 MB, and as much again decoded). */
export const MAX_DECODED_BYTES = 20 * 1024 * 1024;
/** Compressed bytes fed to the inflater at a time: deflate expands at most about 1032:1, so no step yields more than about 1 MB. */
const INFLATE_STEP = 1024;
/** Ancillary chunks the decoder would inflate or decode as extra frames; nothing of them reaches the pixels of the default image. */
const LEFT_OUT = new Set(["iCCP", "zTXt", "iTXt", "acTL", "fcTL", "fdAT"]);
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7's passes: x and y of the first pixel, then the steps. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

export interface PngHeader {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlaced: boolean;
}

/** The first IHDR's fields; `checkSize` refuses a size before anything else is read. */
export function readPngHeader(body: Uint8Array, checkSize: (width: number, height: number) => void): PngHeader {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (body.length < 33 || view.getUint32(8) !== 13 || chunkType(body, 12) !== "IHDR") throw badRequest("the PNG is truncated or malformed: no IHDR header");
  const header = { width: view.getUint32(16), height: view.getUint32(20), depth: body[24]!, colorType: body[25]!, interlaced: body[28] === 1 };
  checkSize(header.width, header.height);
  if (CHANNELS[header.colorType] === undefined) throw badRequest(`the PNG's colour type ${header.colorType} is not one PNG defines`);
  if (![1, 2, 4, 8, 16].includes(header.depth)) throw badRequest(`the PNG's bit depth ${header.depth} is not one PNG defines`);
  const decoded = inflatedBytes(header);
  if (decoded > MAX_DECODED_BYTES) {
    throw payloadTooLarge(
      `the PNG's ${header.width}x${header.height} pixels at ${header.depth} bits in ${CHANNELS[header.colorType]} channels decode to ${decoded} bytes; at most ${MAX_DECODED_BYTES} are taken (send 8-bit RGB, or a JPEG)`,
    );
  }
  return header;
}

/** The PNG the decoder may be given: its chunks checked against `header`, the ones in LEFT_OUT removed. */
export function checkedPng(body: Uint8Array, header: PngHeader): Uint8Array {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const kept: Uint8Array[] = [body.subarray(0, 8)];
  const data: Uint8Array[] = [];
  let palette = false;
  let leftOut = false;
  for (let at = 8; at + 12 <= body.length;) {
    const length = view.getUint32(at);
    const type = chunkType(body, at + 4);
    const end = at + 12 + length;
    if (end > body.length) break; // truncated: the decoder says so
    if (type === "IHDR" && at !== 8) throw badRequest("the PNG has more than one IHDR header");
    if (type === "PLTE") palette = true;
    if (type === "IDAT") data.push(body.subarray(at + 8, at + 8 + length));
    if (LEFT_OUT.has(type)) leftOut = true;
    else kept.push(body.subarray(at, end));
    if (type === "IEND") break;
    at = end;
  }
  if (header.colorType === 3 && !palette) throw badRequest("the PNG is a palette image without a palette (no PLTE chunk)");
  checkInflatedSize(data, inflatedBytes(header), header);
  if (!leftOut) return body;
  const out = new Uint8Array(kept.reduce((sum, chunk) => sum + chunk.length, 0));
  kept.reduce((offset, chunk) => (out.set(chunk, offset), offset + chunk.length), 0);
  return out;
}

function chunkType(body: Uint8Array, at: number): string {
  return String.fromCharCode(body[at]!, body[at + 1]!, body[at + 2]!, body[at + 3]!);
}

/** The filtered scanlines' size: each row's bytes plus its filter byte, per Adam7 pass when interlaced. */
function inflatedBytes({ width, height, depth, colorType, interlaced }: PngHeader): number {
  const bitsPerPixel = depth * CHANNELS[colorType]!;
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(width, height);
  return ADAM7.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0);
}

/** Inflates the image data in small steps, counting and keeping nothing, and stops once it passes `expected`. */
function checkInflatedSize(data: Uint8Array[], expected: number, header: PngHeader): void {
  let inflated = 0;
  const inflater = new Unzlib((chunk) => (inflated += chunk.length));
  try {
    for (const part of data) {
      for (let at = 0; at < part.length && inflated <= expected; at += INFLATE_STEP) inflater.push(part.subarray(at, at + INFLATE_STEP), false);
    }
  } catch {
    return; // corrupt data: the decoder refuses it with its own reason
  }
  if (inflated > expected) {
    throw badRequest(`the PNG's image data inflates to more than the ${expected} bytes its ${header.width}x${header.height} header allows`);
  }
}
