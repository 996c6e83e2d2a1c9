/**
 * @module A JPEG's scans counted before it is decoded. A progressive JPEG is decoded scan by
 * scan, and each scan walks every block of the frame; the decoder takes as many scans as the file
 * holds, and reads past the end of a short scan as zero bits. So a file of a few thousand tiny
 * scans over a 4-megapixel frame (14 bytes each) costs seconds of CPU per 100 KB: 20 s for the
 * free tier's 1 MB. Encoders write 1 scan (baseline) or about 10 (progressive: libjpeg's default
 * script has 10 for colour, 6 for grey; optimised scripts stay under 20): MAX_JPEG_SCANS leaves room.
 */
import { badRequest } from "../../protocol/errors.ts";

export const MAX_JPEG_SCANS = 64;

const MARKER = 0xff;
const SOS = 0xda;
const EOI = 0xd9;
/** Markers without a length field: TEM and RST0-RST7 (SOI is skipped before the walk). */
const standalone = (marker: number) => marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);

/**
 * Walks the JPEG's marker segments and the entropy-coded data after each start of scan, and
 * refuses more than MAX_JPEG_SCANS scans. A walk that runs off the end stops quietly: the
 * decoder then says what is wrong with the file.
 */
export function checkJpegScans(body: Uint8Array): void {
  let scans = 0;
  let at = 2; // after SOI
  while (at + 1 < body.length) {
    if (body[at] !== MARKER) return; // not a marker where one must be: the decoder's to refuse
    const marker = body[at + 1]!;
    if (marker === MARKER) {
      at++; // fill byte
      continue;
    }
    if (marker === EOI) return;
    if (standalone(marker)) {
      at += 2;
      continue;
    }
    if (at + 3 >= body.length) return;
    const length = (body[at + 2]! << 8) | body[at + 3]!;
    at += 2 + length;
    if (marker !== SOS) continue;
    if (++scans > MAX_JPEG_SCANS) throw badRequest(`the JPEG has more than ${MAX_JPEG_SCANS} scans; encoders write at most about 20`);
    // Entropy-coded data runs to the next marker that is neither a stuffed zero nor a restart.
    while (at + 1 < body.length && !(body[at] === MARKER && body[at + 1] !== 0 && !(body[at + 1]! >= 0xd0 && body[at + 1]! <= 0xd7))) at++;
  }
}
