/**
 * @module Where a WAV body's format and samples are: one walk over its RIFF chunk headers that
 * reads the `fmt ` chunk's fields and the `data` chunk's place, and skips every other chunk
 * unread. A parser that decodes every chunk it meets takes counts from the file (cue points,
 * sampler loops) and loops or allocates by them before any check: a 250-byte file declaring four
 * billion cue points ran an isolate out of memory in one such library. The walk costs one step
 * per chunk, and a chunk header is 8 bytes, so it is bounded by the body's size. Little-endian
 * RIFF only: big-endian RIFX and 64-bit RF64 files are refused.
 */
import { badRequest } from "../../protocol/errors.ts";

export interface WavLayout {
  /** WAVE_FORMAT_* of the samples: an extensible file's subformat (1 for PCM, 3 for float). */
  format: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
  /** Where the samples start in the body. */
  dataOffset: number;
  /** The data chunk's size as its header declares it (0xFFFFFFFF, and 0 with no chunk after it: unknown, as streamed writers leave it). */
  declaredDataBytes: number;
  /** Bytes of samples present: the declared size, or what the body holds after dataOffset when that is less or the size is unknown. */
  dataBytes: number;
}

const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Data chunk sizes that mean "unknown" (streamed writers), not a length. */
export const UNKNOWN_DATA_SIZES: ReadonlySet<number> = new Set([0, 0xffffffff]);

const notWav = (why: string) => badRequest(`the body is not a readable WAV file: ${why}`);
const fourCC = (body: Uint8Array, at: number) => String.fromCharCode(body[at]!, body[at + 1]!, body[at + 2]!, body[at + 3]!);

export function readWavLayout(body: Uint8Array): WavLayout {
  if (body.length < 12) throw notWav(`it is ${body.length} bytes, shorter than a RIFF header`);
  const container = fourCC(body, 0);
  if (container === "RIFX" || container === "RF64") throw notWav(`${container} files are not taken; send little-endian RIFF (the common WAV)`);
  if (container !== "RIFF" || fourCC(body, 8) !== "WAVE") throw notWav("no RIFF/WAVE header");
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let fmt: Omit<WavLayout, "dataOffset" | "declaredDataBytes" | "dataBytes"> | undefined;
  let data: Pick<WavLayout, "dataOffset" | "declaredDataBytes" | "dataBytes"> | undefined;
  for (let at = 12; at + 8 <= body.length && (fmt === undefined || data === undefined);) {
    const id = fourCC(body, at);
    const size = view.getUint32(at + 4, true);
    const start = at + 8;
    const present = Math.min(size, body.length - start);
    if (id === "data") {
      // A size of 0 followed by whole chunks up to the body's end is an empty data chunk, not a streamed one.
      const unknown = size === 0xffffffff || (size === 0 && !chunksReachEnd(body, view, start));
      data = { dataOffset: start, declaredDataBytes: size, dataBytes: unknown ? body.length - start : present };
      if (unknown) break; // the samples run to the end of the body
    } else if (id === "fmt ") {
      if (size < 16 || present < 16) throw notWav(`its fmt chunk is ${present} bytes, shorter than the 16 every WAV has`);
      const tag = view.getUint16(start, true);
      // WAVE_FORMAT_EXTENSIBLE: the subformat GUID, whose first two bytes are the format, follows cbSize and two fields.
      const extensible = tag === WAVE_FORMAT_EXTENSIBLE && present >= 26;
      fmt = {
        format: extensible ? view.getUint16(start + 24, true) : tag,
        channels: view.getUint16(start + 2, true),
        sampleRate: view.getUint32(start + 4, true),
        blockAlign: view.getUint16(start + 12, true),
        bitsPerSample: view.getUint16(start + 14, true),
      };
    }
    if (present < size && id !== "data") throw notWav(`its '${id.replace(/[^\x20-\x7e]/g, "?")}' chunk is truncated`);
    at = start + size + (size & 1); // chunks are padded to an even length
  }
  if (fmt === undefined) throw notWav("no fmt chunk");
  if (data === undefined) throw notWav("no data chunk");
  return { ...fmt, ...data };
}

/** Whether chunk headers from `at` (printable ids, sizes in bounds) lead exactly to the body's end. */
function chunksReachEnd(body: Uint8Array, view: DataView, at: number): boolean {
  if (at === body.length) return false; // nothing after it: a streamed file with no samples yet
  while (at + 8 <= body.length) {
    if (!/^[\x20-\x7e]{4}$/.test(fourCC(body, at))) return false;
    const size = view.getUint32(at + 4, true);
    at += 8 + size + (size & 1);
    if (at === body.length || at === body.length + 1) return true; // a last pad byte may be left out
  }
  return false;
}
