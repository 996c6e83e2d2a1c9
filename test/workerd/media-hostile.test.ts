/**
 * @module The functions' media decoders against files built to hurt them, in workerd: WAVs whose
 * chunks declare billions of entries, big-endian or odd layouts; PNGs with a second header, image
 * data or an ICC profile that inflates far past the header, a palette missing or overrun; JPEGs
 * with thousands of scans. Each is refused at once with a 400 or 413 that says why, or decoded
 * exactly as the same file without the hostile part; two go through the route as a client sends them.
 */
import { describe, expect, it } from "vitest";
import { decodeImage } from "../../functions/ocr/image.ts";
import { MAX_JPEG_SCANS } from "../../functions/ocr/jpeg-scans.ts";
import { MAX_DECODED_BYTES } from "../../functions/ocr/png-chunks.ts";
import { decodeWav } from "../../functions/vad/wav.ts";
import { call, createTenant, ensureDemoModel, fixtureBytes } from "./helpers.ts";
import { fmt, ihdr, pcm16, png, riff, withRepeatedScan, zlib } from "./hostile-media.ts";
import { wavPcm } from "./wav-pcm.ts";

/** Runs `decode` and returns the HttpError's status and message; fails if it does not throw one. */
function refusal(decode: () => unknown): [number, string] {
  try {
    decode();
  } catch (error) {
    return [(error as { status?: number }).status ?? 0, (error as Error).message];
  }
  throw new Error("decoded what it should refuse");
}

const u32le = (value: number) => new Uint8Array(new Uint32Array([value]).buffer);
const plainWav = riff([
  { id: "fmt ", body: fmt() },
  { id: "data", body: pcm16(16000) },
]);

describe("WAV chunks", () => {
  it("skips chunks that declare four billion cue points or sampler loops: decoded like the file without them", () => {
    const smpl = new Uint8Array(36);
    new DataView(smpl.buffer).setUint32(28, 0xffffffff, true);
    const hostile = riff([
      { id: "fmt ", body: fmt() },
      { id: "cue ", body: u32le(0xffffffff) },
      { id: "smpl", body: smpl },
      { id: "data", body: pcm16(16000) },
    ]);
    expect(decodeWav(hostile).samples).toEqual(decodeWav(plainWav).samples);
  });

  it("takes an odd-sized chunk's pad byte, a fmt after the data, and an extensible PCM format", () => {
    const expected = decodeWav(plainWav).samples;
    const padded = riff([
      { id: "LIST", body: Uint8Array.of(1, 2, 3) },
      { id: "fmt ", body: fmt() },
      { id: "data", body: pcm16(16000) },
    ]);
    const fmtLast = riff([
      { id: "data", body: pcm16(16000) },
      { id: "fmt ", body: fmt() },
    ]);
    const extensible = riff([
      { id: "fmt ", body: fmt({ extensible: true }) },
      { id: "data", body: pcm16(16000) },
    ]);
    for (const file of [padded, fmtLast, extensible]) expect(decodeWav(file).samples).toEqual(expected);
  });

  it("reads a data chunk of unknown size (0 or 0xFFFFFFFF, as streamed writers leave it) to the end of the body", () => {
    const expected = decodeWav(plainWav).samples;
    for (const declared of [0, 0xffffffff]) {
      expect(
        decodeWav(
          riff([
            { id: "fmt ", body: fmt() },
            { id: "data", body: pcm16(16000), declared },
          ]),
        ).samples,
      ).toEqual(expected);
    }
  });

  it("refuses RIFX, a wrong block align, a partial frame, extensible float, and no fmt or data chunk, each with its reason", () => {
    const cases: [Uint8Array, RegExp][] = [
      [
        riff(
          [
            { id: "fmt ", body: fmt() },
            { id: "data", body: pcm16(100) },
          ],
          "RIFX",
        ),
        /RIFX files are not taken/,
      ],
      [
        riff([
          { id: "fmt ", body: fmt({ blockAlign: 7 }) },
          { id: "data", body: pcm16(100) },
        ]),
        /block align is 7; 16-bit PCM in 1 channels has 2/,
      ],
      [
        riff([
          { id: "fmt ", body: fmt({ channels: 2 }) },
          { id: "data", body: pcm16(1001, 2).subarray(0, 4003) },
        ]),
        /not a whole number of 2-channel frames/,
      ],
      [
        riff([
          { id: "fmt ", body: fmt({ extensible: true, format: 3, bits: 32 }) },
          { id: "data", body: new Uint8Array(400) },
        ]),
        /must be 16-bit PCM, got format 3/,
      ],
      // Size 0 with whole chunks after it is an empty data chunk, not a streamed one: the chunks are not read as audio.
      [
        riff([
          { id: "fmt ", body: fmt() },
          { id: "data", body: new Uint8Array(0) },
          { id: "LIST", body: new TextEncoder().encode("INFOISFT") },
        ]),
        /^the WAV has no samples$/,
      ],
      [
        riff([
          { id: "data", body: new Uint8Array(0) },
          { id: "fmt ", body: fmt() },
          { id: "LIST", body: new Uint8Array(7) },
        ]),
        /^the WAV has no samples$/,
      ],
      [riff([{ id: "data", body: pcm16(100) }]), /not a readable WAV file: no fmt chunk/],
      [riff([{ id: "fmt ", body: fmt() }]), /not a readable WAV file: no data chunk/],
      [riff([{ id: "fmt ", body: fmt(), declared: 1 << 30 }]), /not a readable WAV file: its fmt chunk is 16 bytes|its 'fmt ' chunk is truncated/],
    ];
    for (const [file, pattern] of cases) {
      const [status, message] = refusal(() => decodeWav(file));
      expect(status, message).toBe(400);
      expect(message).toMatch(pattern);
    }
  });
});

describe("PNG chunks", () => {
  const grey = (width: number, height: number) => zlib(new Uint8Array(height * (width + 1)));

  it("refuses a second IHDR that would make a 1x1 image 16 megapixels", () => {
    const file = png([
      ["IHDR", ihdr(1, 1)],
      ["IHDR", ihdr(4000, 4000, 6, 16)],
      ["IDAT", grey(1, 1)],
      ["IEND", new Uint8Array(0)],
    ]);
    expect(refusal(() => decodeImage(file, "image/png"))).toEqual([400, "the PNG has more than one IHDR header"]);
  });

  it("refuses image data that inflates past what the header allows (a 1x1 image with 8 MB of zeros), without inflating it all", () => {
    const file = png([
      ["IHDR", ihdr(1, 1)],
      ["IDAT", zlib(new Uint8Array(8 << 20))],
      ["IEND", new Uint8Array(0)],
    ]);
    expect(refusal(() => decodeImage(file, "image/png"))).toEqual([400, "the PNG's image data inflates to more than the 2 bytes its 1x1 header allows"]);
  });

  it("leaves out an ICC profile that inflates to 16 MB: the pixels are those of the same file without it", () => {
    const rows = new Uint8Array(2 * 4);
    rows.set([0, 10, 200, 30, 0, 40, 50, 60]); // two rows of three grey pixels, filter 0
    const plain = png([
      ["IHDR", ihdr(3, 2)],
      ["IDAT", zlib(rows)],
      ["IEND", new Uint8Array(0)],
    ]);
    const profile = new Uint8Array([...new TextEncoder().encode("icc"), 0, 0, ...zlib(new Uint8Array(16 << 20))]);
    const withProfile = png([
      ["IHDR", ihdr(3, 2)],
      ["iCCP", profile],
      ["IDAT", zlib(rows)],
      ["IEND", new Uint8Array(0)],
    ]);
    expect(decodeImage(withProfile, "image/png")).toEqual(decodeImage(plain, "image/png"));
    expect(Array.from(decodeImage(plain, "image/png").rgb.subarray(0, 6))).toEqual([10, 10, 10, 200, 200, 200]);
  });

  it("refuses a header whose pixels decode past MAX_DECODED_BYTES (4 megapixels of 16-bit RGBA) with 413, before any data", () => {
    const file = png([
      ["IHDR", ihdr(2048, 2048, 6, 16)],
      ["IEND", new Uint8Array(0)],
    ]);
    const [status, message] = refusal(() => decodeImage(file, "image/png"));
    expect(status).toBe(413);
    expect(message).toContain(`decode to 33556480 bytes; at most ${MAX_DECODED_BYTES} are taken`);
  });

  it("refuses a palette image without a palette, and pixels that name colours past the palette's end", () => {
    const noPalette = png([
      ["IHDR", ihdr(2, 1, 3)],
      ["IDAT", zlib(Uint8Array.of(0, 0, 0))],
      ["IEND", new Uint8Array(0)],
    ]);
    expect(refusal(() => decodeImage(noPalette, "image/png"))).toEqual([400, "the PNG is a palette image without a palette (no PLTE chunk)"]);
    const overrun = png([
      ["IHDR", ihdr(2, 1, 3)],
      ["PLTE", Uint8Array.of(255, 0, 0)],
      ["IDAT", zlib(Uint8Array.of(0, 0, 200))],
      ["IEND", new Uint8Array(0)],
    ]);
    const [status, message] = refusal(() => decodeImage(overrun, "image/png"));
    expect(status).toBe(400);
    expect(message).toMatch(/^the PNG's pixels do not fit its palette/);
  });
});

describe("JPEG scans", () => {
  it(`refuses a JPEG of thousands of scans at once, and decodes a real progressive one (${MAX_JPEG_SCANS} scans at most)`, async () => {
    const baseline = await fixtureBytes("fixtures/textline.jpg");
    const hostile = withRepeatedScan(baseline, 5000);
    const started = Date.now();
    expect(refusal(() => decodeImage(hostile, "image/jpeg"))).toEqual([400, `the JPEG has more than ${MAX_JPEG_SCANS} scans; encoders write at most about 20`]);
    expect(Date.now() - started).toBeLessThan(1000);
    // Every scan header claiming 64 KB: a walk by length fields would jump over the scans; the decoder never reads that field.
    const lying = hostile.slice();
    for (let at = 0; at + 3 < lying.length; at++) if (lying[at] === 0xff && lying[at + 1] === 0xda) lying.set([0xff, 0xff], at + 2);
    expect(refusal(() => decodeImage(lying, "image/jpeg"))[0]).toBe(400);
    const progressive = decodeImage(await fixtureBytes("fixtures/textline-progressive.jpg"), "image/jpeg");
    expect([progressive.width, progressive.height]).toEqual([decodeImage(baseline, "image/jpeg").width, decodeImage(baseline, "image/jpeg").height]);
  });
});

describe("through the route", () => {
  it("a WAV with a hostile cue chunk is served; a palette overrun is a 400, not a 500", async () => {
    await ensureDemoModel("silero-vad");
    await ensureDemoModel("ppocr-rec");
    const key = await createTenant("media-hostile", "premium");
    const headers = (type: string) => ({ "content-type": type, "x-hotpath-timeout-ms": "10000" });
    const speech = await fixtureBytes("fixtures/speech.wav");
    // The fixture's samples with a cue chunk of four billion points before them.
    const { pcm, rate } = wavPcm(speech);
    const cued = riff([
      { id: "cue ", body: u32le(0xffffffff) },
      { id: "fmt ", body: fmt({ rate }) },
      { id: "data", body: pcm },
    ]);
    const served = await call("/v1/functions/vad", { method: "POST", key, body: cued, headers: headers("audio/wav") });
    const plain = await call("/v1/functions/vad", { method: "POST", key, body: speech, headers: headers("audio/wav") });
    expect(served.status).toBe(200);
    expect(((await served.json()) as { segments: unknown }).segments).toEqual(((await plain.json()) as { segments: unknown }).segments);
    const overrun = png([
      ["IHDR", ihdr(2, 1, 3)],
      ["PLTE", Uint8Array.of(255, 0, 0)],
      ["IDAT", zlib(Uint8Array.of(0, 0, 200))],
      ["IEND", new Uint8Array(0)],
    ]);
    const refused = await call("/v1/functions/ocr-line", { method: "POST", key, body: overrun, headers: headers("image/png") });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toMatch(/^the PNG's pixels do not fit its palette/);
  });
});
