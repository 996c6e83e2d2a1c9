/**
 * @module Media files built byte by byte for the decoders' hostile-input tests: RIFF WAVs from
 * chunks, PNGs from chunks (with their CRCs), and a JPEG with its scan repeated. Plain
 * TypeScript plus fflate's zlib, so each test says exactly which bytes it sends.
 */
import { zlibSync } from "fflate";

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

function u32(value: number, littleEndian: boolean): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, littleEndian);
  return bytes;
}

/** A RIFF file of `chunks`, each padded to an even length; `declared` overrides a chunk's size field. */
export function riff(chunks: { id: string; body: Uint8Array; declared?: number }[], container = "RIFF"): Uint8Array {
  const le = container !== "RIFX";
  const parts = chunks.flatMap(({ id, body, declared }) => [ascii(id), u32(declared ?? body.length, le), body, new Uint8Array(body.length & 1)]);
  const payload = concat([ascii("WAVE"), ...parts]);
  return concat([ascii(container), u32(payload.length, le), payload]);
}

/** A fmt chunk's body: PCM by default; `extensible` writes WAVE_FORMAT_EXTENSIBLE with `format` as the subformat. */
export function fmt(options: { format?: number; channels?: number; rate?: number; bits?: number; blockAlign?: number; extensible?: boolean } = {}): Uint8Array {
  const { format = 1, channels = 1, rate = 16000, bits = 16, extensible = false } = options;
  const blockAlign = options.blockAlign ?? (channels * bits) / 8;
  const body = new Uint8Array(extensible ? 40 : 16);
  const view = new DataView(body.buffer);
  view.setUint16(0, extensible ? 0xfffe : format, true);
  view.setUint16(2, channels, true);
  view.setUint32(4, rate, true);
  view.setUint32(8, rate * blockAlign, true);
  view.setUint16(12, blockAlign, true);
  view.setUint16(14, bits, true);
  if (extensible) {
    view.setUint16(16, 22, true); // cbSize
    view.setUint16(18, bits, true); // valid bits
    view.setUint16(24, format, true); // the subformat GUID's first two bytes
  }
  return body;
}

/** `frames` frames of 16-bit samples, a slow ramp so decoded files can be compared. */
export function pcm16(frames: number, channels = 1): Uint8Array {
  const samples = new Int16Array(frames * channels);
  for (let i = 0; i < samples.length; i++) samples[i] = ((i * 37) % 2000) - 1000;
  return new Uint8Array(samples.buffer);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A PNG of `chunks` (type and data), with lengths and CRCs. */
export function png(chunks: [string, Uint8Array][]): Uint8Array {
  const signature = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
  return concat([
    signature,
    ...chunks.flatMap(([type, data]) => {
      const typed = concat([ascii(type), data]);
      return [u32(data.length, false), typed, u32(crc32(typed), false)];
    }),
  ]);
}

/** IHDR data: 8-bit by default, colour type 0 (grey). */
export function ihdr(width: number, height: number, colorType = 0, depth = 8, interlace = 0): Uint8Array {
  return concat([u32(width, false), u32(height, false), Uint8Array.of(depth, colorType, 0, 0, interlace)]);
}

export const zlib = (bytes: Uint8Array): Uint8Array => zlibSync(bytes);

/** The JPEG with its first scan (SOS header and entropy-coded data) repeated until it has `scans` scans. */
export function withRepeatedScan(jpeg: Uint8Array, scans: number): Uint8Array {
  let sos = -1;
  for (let at = 2; at + 1 < jpeg.length; at++) {
    if (jpeg[at] === 0xff && jpeg[at + 1] === 0xda) {
      sos = at;
      break;
    }
  }
  const eoi = jpeg.length - 2;
  if (sos < 0 || jpeg[eoi] !== 0xff || jpeg[eoi + 1] !== 0xd9) throw new Error("not a one-scan JPEG ending in EOI");
  const scan = jpeg.subarray(sos, eoi);
  return concat([jpeg.subarray(0, sos), ...new Array<Uint8Array>(scans).fill(scan), jpeg.subarray(eoi)]);
}
