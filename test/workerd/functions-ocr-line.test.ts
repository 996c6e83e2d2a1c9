/**
 * @module `POST /v1/functions/ocr-line` through the real Worker and ModelHost with the real
 * PP-OCRv4 recognition model: the rendered line reads back exactly from every form the fixture
 * script makes of it (grey PNG, RGB PNG, palette PNG, JPEG), also scaled to another height, with
 * a confidence in (0, 1]; the model call takes one hop on the normal inference path.
 */
import { decode as decodePng, encode as encodePng } from "fast-png";
import { beforeAll, describe, expect, it } from "vitest";
import { loadFixture } from "./fixtures.ts";
import { call, createTenant, ensureDemoModel, fixtureBytes } from "./helpers.ts";

interface OcrAnswer {
  text: string;
  confidence: number;
}

let key: string;
let expected: string;

beforeAll(async () => {
  await ensureDemoModel("ppocr-rec");
  key = await createTenant("ocr-line", "premium");
  expected = (await loadFixture("ppocr-textline")).expectedText ?? "";
  expect(expected).toBe("HOTPATH 2026");
});

function ocr(body: Uint8Array, contentType: string): Promise<Response> {
  return call("/v1/functions/ocr-line", { method: "POST", key, body, headers: { "content-type": contentType, "x-hotpath-timeout-ms": "10000" } });
}

async function read(body: Uint8Array, contentType: string): Promise<OcrAnswer> {
  const response = await ocr(body, contentType);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return JSON.parse(text) as OcrAnswer;
}

describe("ocr-line", () => {
  for (const [file, type] of [
    ["textline.png", "image/png"],
    ["textline-rgb.png", "image/png"],
    ["textline-palette.png", "image/png"],
    ["textline.jpg", "image/jpeg"],
    ["textline-progressive.jpg", "image/jpeg"],
  ] as const) {
    it(`reads the rendered line exactly from ${file}`, async () => {
      const answer = await read(await fixtureBytes(`fixtures/${file}`), type);
      expect(answer.text).toBe(expected);
      expect(answer.confidence).toBeGreaterThan(0.9);
      expect(answer.confidence).toBeLessThanOrEqual(1);
    });
  }

  it("scales a taller line to the model's height of 48 and still reads it", async () => {
    const line = await read(await fixtureBytes("fixtures/textline.png"), "image/png");
    const taller = upscaleGrey2x(await fixtureBytes("fixtures/textline.png"));
    const answer = await read(taller, "image/png");
    expect(answer.text).toBe(expected);
    expect(answer.confidence).toBeGreaterThan(line.confidence - 0.1);
  });

  it("reads a line with transparency over white, and a blank line as no text with a confidence in (0, 1]", async () => {
    const width = 120;
    const height = 48;
    const blank = encodePng({ width, height, channels: 4, depth: 8, data: new Uint8Array(width * height * 4) }); // transparent black: white once composited
    const answer = await read(blank, "image/png");
    expect(answer.text).toBe("");
    expect(answer.confidence).toBeGreaterThan(0);
    expect(answer.confidence).toBeLessThanOrEqual(1);
  });

  it("runs the model in one hop on the inference path, and times every step", async () => {
    const response = await ocr(await fixtureBytes("fixtures/textline.png"), "image/png");
    expect(response.status).toBe(200);
    const timing = response.headers.get("server-timing") ?? "";
    for (const entry of ["decode;dur=", "host;dur=", "queue;dur=", "infer;dur=", "post;dur=", "total;dur="]) expect(timing, timing).toContain(entry);
    expect(timing).toContain('batch;desc="1"');
    expect(response.headers.get("x-served-by")).toMatch(/^edge:[a-z]+\/0$/);
  });
});

/** The grey 8-bit PNG at twice its size (nearest neighbour), re-encoded: a 96 px tall line. */
function upscaleGrey2x(png: Uint8Array): Uint8Array {
  const { width, height, data, channels } = decodePng(png);
  expect(channels).toBe(1);
  const big = new Uint8Array(width * 2 * height * 2);
  for (let y = 0; y < height * 2; y++) for (let x = 0; x < width * 2; x++) big[y * width * 2 + x] = data[(y >> 1) * width + (x >> 1)]!;
  return encodePng({ width: width * 2, height: height * 2, channels: 1, depth: 8, data: big });
}
