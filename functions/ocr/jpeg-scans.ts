/**
 * @module A JPEG's scans counted before it is decoded. A progressive JPEG is decoded scan by
 * scan, and each scan walks every block of the frame; the decoder takes as many scans as the file
 * holds, and reads past the end of a short scan as zero bits. So a file of a few thousand tiny
 * scans over a 4-megapixel frame (14 bytes each) costs seconds of CPU per 100 KB: 20 s for the
 * free tier's 1 MB. Encoders write 1 scan (baseline) or about 10 (progressive: libjpeg's default
 * script has 10 for colour, 6 for grey; optimised scripts stay under 20): MAX_JPEG_SCANS leaves room.
 *
 * Every start-of-scan marker (the bytes FF DA) in the body is counted, wherever it is: a walk from
 * segment to segment by their length fields can be led past scans (an SOS whose length the
 * decoder never reads, a segment one byte too long that the decoder recovers from). Inside a
 * scan's coded data FF is always followed by 00 or a marker, so the count is never short; a
 * thumbnail inside an APP segment may add its own few scans, which the limit leaves room for.
 */
import { badRequest } from "../../protocol/errors.ts";

export const MAX_JPEG_SCANS = 64;

export function checkJpegScans(body: Uint8Array): void {
  let scans = 0;
  for (let at = body.indexOf(0xff); at >= 0 && at + 1 < body.length; at = body.indexOf(0xff, at + 1)) {
    if (body[at + 1] === 0xda && ++scans > MAX_JPEG_SCANS) throw badRequest(`the JPEG has more than ${MAX_JPEG_SCANS} scans; encoders write at most about 20`);
  }
}
