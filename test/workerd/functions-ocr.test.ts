/**
 * @module `POST /v1/functions/ocr` through the real Worker and ModelHosts with the real PP-OCRv4
 * detector and recogniser: the rendered page reads line by line in reading order with the exact
 * texts (the last row is two boxes whose right one starts higher), each box holds its line, a
 * blank page has no lines, bad media and content types get their 4xx, and Server-Timing shows
 * both models' steps: one detection call, then the lines in one batched recognition call. Here
 * there is no origin, so `ppocr-det` (placement auto) runs at the edge.
 */
import { encode as encodePng } from "fast-png";
import { beforeAll, describe, expect, it } from "vitest";
import { call, createTenant, ensureDemoModel, fixtureBytes, fixtureJson } from "./helpers.ts";

interface OcrLine {
  text: string;
  confidence: number;
  box: [[number, number], [number, number], [number, number], [number, number]];
}

let key: string;
let page: Uint8Array;
let expected: string[];

beforeAll(async () => {
  await ensureDemoModel("ppocr-det");
  await ensureDemoModel("ppocr-rec");
  key = await createTenant("ocr-page", "premium");
  page = await fixtureBytes("fixtures/page.png");
  expected = (await fixtureJson<{ lines: string[] }>("fixtures/page.json")).lines;
  expect(expected).toHaveLength(5);
});

function ocr(body: Uint8Array, contentType: string, query = ""): Promise<Response> {
  return call(`/v1/functions/ocr${query}`, { method: "POST", key, body, headers: { "content-type": contentType, "x-hotpath-timeout-ms": "10000" } });
}

async function read(body: Uint8Array, contentType = "image/png"): Promise<{ response: Response; lines: OcrLine[] }> {
  const response = await ocr(body, contentType);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return { response, lines: (JSON.parse(text) as { lines: OcrLine[] }).lines };
}

describe("ocr", () => {
  it("reads the rendered page line by line in reading order, each box around its line", async () => {
    const { lines } = await read(page);
    expect(lines.map((l) => l.text)).toEqual(expected);
    for (const line of lines) {
      expect(line.confidence, line.text).toBeGreaterThan(0.9);
      expect(line.confidence).toBeLessThanOrEqual(1);
    }
    // Where make-fixtures drew each line (baseline at y, DejaVu Sans 30 pt: caps ~22 px tall, descenders ~7).
    const drawn = [
      [40, 70],
      [40, 160],
      [40, 250],
      [40, 340],
      [460, 340],
    ];
    lines.forEach(({ box, text }, i) => {
      const [x, baseline] = drawn[i]!;
      const [[x0, y0], [x1, top], [right, y1], [left, bottom]] = box;
      expect([top, right, left], text).toEqual([y0, x1, x0]); // clockwise from the top left, axis-aligned
      // The pen position, give or take the glyph's side bearing of a few pixels.
      expect(x0, text).toBeLessThanOrEqual(x! + 4);
      expect(x0, text).toBeGreaterThan(x! - 15);
      expect(y0, text).toBeLessThanOrEqual(baseline! - 22);
      expect(y0, text).toBeGreaterThan(baseline! - 45);
      expect(bottom, text).toBeGreaterThanOrEqual(baseline!);
      expect(bottom, text).toBeLessThan(baseline! + 20);
      // About 17 px per character at 30 pt, and nothing of the next word on the row.
      expect(x1! - x0!, text).toBeGreaterThan(text.length * 13);
      expect(x1! - x0!, text).toBeLessThan(text.length * 22);
      expect(y1).toBe(bottom);
    });
    expect(lines[4]!.box[0][1], "the right word of the last row starts higher, yet comes second").toBeLessThan(lines[3]!.box[0][1]);
  });

  it("reads the page from a JPEG as well: the same lines in the same order", async () => {
    const { lines } = await read(await fixtureBytes("fixtures/page.jpg"), "image/jpeg");
    // JPEG's ringing around the glyphs at quality 95 makes the recogniser drop the narrow space
    // in "one row"; every character is still read, in order.
    const withoutSpaces = (texts: string[]) => texts.map((t) => t.replaceAll(" ", ""));
    expect(withoutSpaces(lines.map((l) => l.text))).toEqual(withoutSpaces(expected));
  });

  it("finds no lines on a blank page, and only the detector runs", async () => {
    const width = 640;
    const height = 480;
    const blank = encodePng({ width, height, channels: 1, depth: 8, data: new Uint8Array(width * height).fill(255) });
    const { response, lines } = await read(blank);
    expect(lines).toEqual([]);
    const timing = response.headers.get("server-timing") ?? "";
    expect(timing).toContain('model;desc="ppocr-det"');
    expect(timing).not.toContain('model;desc="ppocr-rec"');
  });

  it("runs detection, then all the lines in one batched recognition call, and times both models' steps", async () => {
    const { response } = await read(page);
    const timing = response.headers.get("server-timing") ?? "";
    const det = timing.indexOf('model;desc="ppocr-det"');
    const rec = timing.indexOf('model;desc="ppocr-rec"');
    expect(det, timing).toBeGreaterThan(timing.indexOf("decode;dur="));
    expect(rec, timing).toBeGreaterThan(det);
    expect(timing.lastIndexOf("post;dur="), timing).toBeGreaterThan(rec);
    for (const part of [timing.slice(det, rec), timing.slice(rec)]) {
      for (const entry of ["host;dur=", "queue;dur=", "infer;dur="]) expect(part, timing).toContain(entry);
    }
    expect(timing.slice(det, rec)).toContain('batch;desc="1"');
    expect(timing.slice(rec)).toContain(`batch;desc="${expected.length}"`);
    expect(timing.match(/model;desc=/g)).toHaveLength(2);
    expect(response.headers.get("x-served-by")).toMatch(/^edge:[a-z]+\/\d+, edge:[a-z]+\/\d+$/);
  });

  it("reads the page for a premium key that sends no deadline: ocr's own default of 5 s, not premium's 1 s", async () => {
    const response = await call("/v1/functions/ocr", { method: "POST", key, body: page, headers: { "content-type": "image/png" } });
    const text = await response.text();
    const total = /total;dur=([\d.]+)/.exec(response.headers.get("server-timing") ?? "")?.[1];
    expect(response.status, `${text} (total ${total} ms)`).toBe(200);
    expect((JSON.parse(text) as { lines: OcrLine[] }).lines.map((l) => l.text)).toEqual(expected);
  });

  it("lists itself with both models and its option", async () => {
    const response = await call("/v1/functions", { key });
    const { functions } = (await response.json()) as { functions: { name: string; models: string[]; accepts: string[]; options: Record<string, unknown> }[] };
    const listed = functions.find((f) => f.name === "ocr");
    expect(listed?.models).toEqual(["ppocr-det", "ppocr-rec"]);
    expect(listed?.accepts).toEqual(["image/png", "image/jpeg"]);
    expect(Object.keys(listed?.options ?? {})).toEqual(["min_confidence"]);
  });

  it("leaves out lines below min_confidence", async () => {
    const response = await ocr(page, "image/png", "?min_confidence=1");
    expect(response.status).toBe(200);
    expect(((await response.json()) as { lines: OcrLine[] }).lines).toEqual([]);
  });

  for (const [what, body, type, status, message] of [
    ["an empty body", new Uint8Array(0), "image/png", 400, /empty/],
    ["a truncated PNG", "truncated", "image/png", 400, /PNG/],
    ["text sent as a PNG", new TextEncoder().encode("not an image at all, just words"), "image/png", 400, /not a PNG/],
    ["a PNG sent as a JPEG", "page", "image/jpeg", 400, /JPEG/],
    ["a WAV content type", "page", "audio/wav", 415, /accepts image\/png, image\/jpeg/],
    ["no content type", "page", "", 415, /content type was ''/],
  ] as const) {
    it(`refuses ${what} with ${status}`, async () => {
      const bytes = body === "page" ? page : body === "truncated" ? page.subarray(0, page.length >> 1) : body;
      const response = await ocr(bytes, type);
      const text = await response.text();
      expect(response.status, text).toBe(status);
      expect((JSON.parse(text) as { error: string }).error).toMatch(message);
    });
  }

  it("refuses a page over the pixel bound with 413 before decoding it", async () => {
    // A PNG header that claims 3000 x 3000 pixels: refused from the header alone.
    const header = encodePng({ width: 3000, height: 3000, channels: 1, depth: 8, data: new Uint8Array(3000 * 3000) }).subarray(0, 64);
    const response = await ocr(header, "image/png");
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: string }).error).toMatch(/3000x3000/);
  });
});
