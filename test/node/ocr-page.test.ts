/**
 * @module The `ocr` page pipeline's pure parts in Node: DB post-processing on synthetic
 * probability maps (regions, the score filter, the unclip distance, scaling back, reading order),
 * the detection size and normalisation, the recognition batches (aspect-ratio order, max_batch,
 * the output bound, padding), and the whole pipeline on onnxruntime-node reading the rendered
 * page (the same code the Worker runs, with the dictionary passed in).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import * as ort from "onnxruntime-node";
import { parseKeys } from "../../functions/ocr/ctc-decode.ts";
import { DB_DEFAULTS, readingOrder, textBoxes, type TextBox } from "../../functions/ocr/db-postprocess.ts";
import { detInput, detSize } from "../../functions/ocr/det-preprocess.ts";
import { decodeImage, type RgbImage } from "../../functions/ocr/image.ts";
import { pageAnswer, readPage } from "../../functions/ocr/page-pipeline.ts";
import { MAX_BATCH_OUTPUT_BYTES, recBatchInput, recBatches } from "../../functions/ocr/rec-batch.ts";
import type { FunctionContext } from "../../functions/contract.ts";
import { HttpError } from "../../protocol/errors.ts";
import { createModelSession } from "../../protocol/model-session.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { REPO_ROOT, catalogEntry, modelBytes, readRepoFile } from "../../scripts/models/catalog.ts";

const FIXTURES = join(REPO_ROOT, ".hotpath/fixtures");

/** A width x height map of `background` with each rectangle [x0, y0, x1, y1] (inclusive) at `value`. */
function mapWith(width: number, height: number, rects: [number, number, number, number, number][], background = 0.01) {
  const data = new Float32Array(width * height).fill(background);
  for (const [x0, y0, x1, y1, value] of rects) for (let y = y0; y <= y1; y++) data.fill(value, y * width + x0, y * width + x1 + 1);
  return { data, width, height };
}

const edges = ({ x0, y0, x1, y1 }: TextBox) => [x0, y0, x1, y1];

describe("DB post-processing", () => {
  test("a region becomes its box grown by area * ratio / perimeter, scaled back to the page", () => {
    // 41 x 11 pixels: between outermost centres 40 x 10, so the distance is 400 * 2 / 100 = 8.
    const map = mapWith(64, 32, [[10, 10, 50, 20, 0.9]]);
    const [box, ...rest] = textBoxes(map, 128, 64);
    assert.equal(rest.length, 0);
    assert.deepEqual(edges(box!), [4, 4, 116, 56]); // (10 - 8) * 2, (10 - 8) * 2, (50 + 8) * 2, (20 + 8) * 2
    assert.deepEqual(box!.box, [
      [4, 4],
      [116, 4],
      [116, 56],
      [4, 56],
    ]);
    assert.ok(Math.abs(box!.score - 0.9) < 1e-6);
  });

  test("pixels at or under the threshold are background; a box is clamped to the page", () => {
    const map = mapWith(40, 20, [
      [0, 0, 30, 8, 0.9],
      [0, 12, 30, 19, DB_DEFAULTS.threshold],
    ]);
    const boxes = textBoxes(map, 40, 20);
    assert.equal(boxes.length, 1);
    assert.equal(boxes[0]!.x0, 0);
    assert.equal(boxes[0]!.y0, 0);
  });

  test("regions whose mean score is under box_thresh, and regions thinner than 3 px, are dropped", () => {
    const map = mapWith(100, 60, [
      [5, 5, 60, 15, 0.5], // above the threshold, under the box threshold of 0.6
      [5, 30, 60, 31, 0.95], // 2 px tall: 1 between centres
      [5, 45, 60, 52, 0.95],
    ]);
    const boxes = textBoxes(map, 100, 60);
    assert.equal(boxes.length, 1);
    assert.ok(boxes[0]!.y0 < 45 && boxes[0]!.y1 > 52);
  });

  test("the score is the mean over the region's box, background inside it included", () => {
    // An L-shaped region: its box holds as many background pixels as region pixels, roughly.
    const map = mapWith(50, 50, [
      [10, 10, 40, 14, 1],
      [10, 10, 14, 40, 1],
    ]);
    assert.deepEqual(textBoxes(map, 50, 50), []);
    assert.equal(textBoxes(map, 50, 50, { ...DB_DEFAULTS, boxThreshold: 0.2 }).length, 1);
  });

  test("diagonal neighbours join one region (8-connectivity)", () => {
    const map = mapWith(60, 30, [
      [5, 5, 20, 12, 0.9],
      [21, 13, 40, 20, 0.9],
    ]);
    assert.equal(textBoxes(map, 60, 30, { ...DB_DEFAULTS, boxThreshold: 0.4 }).length, 1);
  });

  test("reading order: top to bottom, and boxes on one row left to right even when the right one starts higher", () => {
    const map = mapWith(200, 100, [
      [120, 8, 180, 20, 0.9], // right, top at 8
      [10, 10, 60, 20, 0.9], // left, top at 10: same row
      [10, 60, 60, 70, 0.9], // next row
    ]);
    const boxes = textBoxes(map, 200, 100);
    assert.deepEqual(
      boxes.map((b) => b.x0 < 100 && b.y0 < 40),
      [true, false, false],
    );
    assert.ok(boxes[1]!.x0 > 100 && boxes[2]!.y0 > 40);
    const tall = (x0: number, y0: number, height: number): TextBox => ({
      box: [
        [x0, y0],
        [x0, y0],
        [x0, y0],
        [x0, y0],
      ],
      x0,
      y0,
      x1: x0 + 10,
      y1: y0 + height,
      score: 1,
    });
    // Tops 12 px apart with lines 20 tall are two rows, whatever the x.
    assert.deepEqual(
      readingOrder([tall(100, 12, 20), tall(0, 0, 20)]).map((b) => b.y0),
      [0, 12],
    );
    assert.deepEqual(
      readingOrder([tall(100, 0, 40), tall(0, 12, 40)]).map((b) => b.x0),
      [0, 100],
    );
  });

  test("more boxes than the bound is 413, before they are sorted", () => {
    const rects = Array.from({ length: 12 }, (_, i): [number, number, number, number, number] => [2 + 8 * i, 2, 6 + 8 * i, 6, 0.9]);
    const map = mapWith(100, 10, rects);
    assert.equal(textBoxes(map, 100, 10, DB_DEFAULTS, 12).length, 12);
    assert.throws(
      () => textBoxes(map, 100, 10, DB_DEFAULTS, 11),
      (error: unknown) => error instanceof HttpError && error.status === 413 && /12 text lines/.test(error.message),
    );
  });

  test("an empty map has no boxes", () => {
    assert.deepEqual(textBoxes(mapWith(32, 32, []), 32, 32), []);
  });
});

describe("detection input", () => {
  test("the longest side goes to at most 960, each side to the nearest multiple of 32, never up", () => {
    assert.deepEqual(detSize(720, 400), { width: 736, height: 416 });
    assert.deepEqual(detSize(1920, 1080), { width: 960, height: 544 });
    assert.deepEqual(detSize(10, 10), { width: 32, height: 32 });
  });

  test("BGR, normalised with ImageNet mean/std in PaddleOCR's channel order", () => {
    const page: RgbImage = { rgb: new Uint8Array(32 * 32 * 3).fill(255), width: 32, height: 32 };
    page.rgb[0] = 0; // red of the first pixel: lands in the third (R) plane
    const { data, width, height } = detInput(page);
    assert.equal(width * height, 1024);
    assert.ok(Math.abs(data[0]! - (1 - 0.485) / 0.229) < 1e-5);
    assert.ok(Math.abs(data[1024]! - (1 - 0.456) / 0.224) < 1e-5);
    assert.ok(Math.abs(data[2048]! - (0 - 0.406) / 0.225) < 1e-5);
  });
});

describe("recognition batches", () => {
  const line = (width: number, height = 20): RgbImage => ({ rgb: new Uint8Array(width * height * 3).fill(255), width, height });

  test("lines go in order of aspect ratio, at most max_batch to a batch", () => {
    const lines = [line(400), line(100), line(300), line(200), line(50)];
    assert.deepEqual(recBatches(lines, 2), [[4, 1], [3, 2], [0]]);
    assert.deepEqual(recBatches(lines, 8), [[4, 1, 3, 2, 0]]);
  });

  test("a batch is cut short before its output passes the bound", () => {
    // Ratio 80 -> width 3840 -> 480 steps x 6625 classes x 4 bytes = 12.7 MB per line.
    const perLine = (3840 / 8) * 6625 * 4;
    const batches = recBatches([line(1600), line(1600), line(1600)], 8);
    assert.deepEqual(
      batches.map((b) => b.length),
      Array.from({ length: 3 }, () => Math.floor(MAX_BATCH_OUTPUT_BYTES / perLine)),
    );
  });

  test("each line is scaled to height 48 and padded with zeros to the batch's width, at least 320", () => {
    const tensor = recBatchInput([line(40), line(400)], [0, 1], (i) => [line(40), line(400)][i]!);
    assert.deepEqual(tensor.shape, [2, 3, 48, 960]);
    const data = tensor.data as Float32Array;
    const plane = 48 * 960;
    assert.equal(data[95], 1); // white inside the short line (96 px wide at height 48)
    assert.equal(data[96], 0); // padding after it
    assert.equal(data[3 * plane + 959], 1); // the long line fills its row
    assert.deepEqual(recBatchInput([line(40)], [0], () => line(40)).shape, [1, 3, 48, 320]);
  });

  test("batches are made from sizes alone, and a batch asks for its lines' pixels one at a time, only its own", () => {
    const sizes = [400, 100, 300, 200, 50].map((width) => ({ width, height: 20 }));
    const asked: number[] = [];
    for (const batch of recBatches(sizes, 2)) recBatchInput(sizes, batch, (i) => (asked.push(i), line(sizes[i]!.width)));
    assert.deepEqual(asked, [4, 1, 3, 2, 0]);
  });
});

describe("the page on onnxruntime-node", () => {
  test("reads the rendered page line by line in order, exactly, with one detection and one batched recognition run", async () => {
    const det = await createModelSession(ort, modelBytes(catalogEntry("ppocr-det")));
    const rec = await createModelSession(ort, modelBytes(catalogEntry("ppocr-rec")));
    const keys = parseKeys(new TextDecoder().decode(readRepoFile(catalogEntry("ppocr-rec").assets![0]!.path)));
    const calls: string[] = [];
    const context = (maxBatch: number): FunctionContext => ({
      infer: (model: string, inputs: Tensor[], outputs: string[]) => {
        calls.push(`${model} [${inputs[0]!.shape.join(",")}]`);
        return (model === "ppocr-det" ? det : rec).run(inputs, outputs);
      },
      maxBatch: () => maxBatch,
      job: () => Promise.reject(new Error("ocr runs no host loop")),
    });
    const expected = (JSON.parse(readFileSync(join(FIXTURES, "page.json"), "utf8")) as { lines: string[] }).lines;
    const image = decodeImage(new Uint8Array(readFileSync(join(FIXTURES, "page.png"))), "image/png");
    const { data, width, height } = detInput(image);
    const input: Tensor = { name: "x", datatype: "FP32", shape: [1, 3, height, width], data };

    const answer = pageAnswer(await readPage(image, input, context(8), keys), 0.5);
    assert.deepEqual(
      answer.lines.map((l) => l.text),
      expected,
    );
    assert.deepEqual(calls, ["ppocr-det [1,3,416,736]", `ppocr-rec [${expected.length},3,48,${calls[1]!.split(",").at(-1)!.slice(0, -1)}]`]);

    // Under a max_batch of 2 the same lines come back in the same order from three runs.
    calls.length = 0;
    const split = pageAnswer(await readPage(image, input, context(2), keys), 0.5);
    assert.deepEqual(
      split.lines.map((l) => l.text),
      expected,
    );
    assert.deepEqual(
      calls.map((c) => c.split(" ")[0]),
      ["ppocr-det", "ppocr-rec", "ppocr-rec", "ppocr-rec"],
    );
    await det.release();
    await rec.release();
  });
});
