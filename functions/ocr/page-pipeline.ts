/**
 * @module The page pipeline behind `ocr` (ocr.ts), apart from the function's declaration and the
 * bundled dictionary so Node can run it too (test/node/ocr-page.test.ts runs it on
 * onnxruntime-node): detection, DB post-processing into line boxes, the lines recognised in
 * batches, each batch CTC-decoded as soon as it is back so only one batch's output is held at a
 * time, and the answer.
 */
import { HttpError } from "../../protocol/errors.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import type { FunctionContext } from "../contract.ts";
import { ctcGreedyDecode } from "./ctc-decode.ts";
import { DB_DEFAULTS, textBoxes, type Quad, type TextBox } from "./db-postprocess.ts";
import type { RgbImage } from "./image.ts";
import { cropLine, recBatches, recBatchInput } from "./rec-batch.ts";

export const DET_MODEL = "ppocr-det";
const DET_OUTPUT = "sigmoid_0.tmp_0";
export const REC_MODEL = "ppocr-rec";
const REC_OUTPUT = "softmax_11.tmp_0";
/** Lines read per call: a dense page has about 60; more is most likely not a page of text. */
export const MAX_LINES = 200;

export interface OcrLine {
  text: string;
  /** Mean probability of the characters read, in (0, 1]. */
  confidence: number;
  /** Corners clockwise from the top left, [x, y] in the page's pixels. */
  box: Quad;
}

export interface ReadLine {
  box: TextBox;
  text: string;
  confidence: number;
}

/** Every text line of `image` (whose detection input is `det`), in reading order. */
export async function readPage(image: RgbImage, det: Tensor, context: FunctionContext, keys: readonly string[]): Promise<ReadLine[]> {
  const boxes = await detect(image, det, context);
  return recognise(image, boxes, context, keys);
}

/** The answer: lines with text read at `minConfidence` or more. */
export function pageAnswer(lines: readonly ReadLine[], minConfidence: number): { lines: OcrLine[] } {
  return {
    lines: lines
      .filter((line) => line.text.trim() !== "" && line.confidence >= minConfidence)
      .map(({ box, text, confidence }) => ({ text, confidence, box: box.box })),
  };
}

async function detect(image: RgbImage, det: Tensor, context: FunctionContext): Promise<TextBox[]> {
  const [map] = await context.infer(DET_MODEL, [det], [DET_OUTPUT]);
  const [, , height = 0, width = 0] = det.shape;
  // A map of another size is a model that is not the detector this code was written for.
  if (!map || map.shape.join() !== [1, 1, height, width].join()) {
    throw new HttpError(500, `${DET_MODEL} answered [${map?.shape.join(", ") ?? ""}], want [1, 1, ${height}, ${width}]`);
  }
  return textBoxes({ data: map.data as Float32Array, width, height }, image.width, image.height, DB_DEFAULTS, MAX_LINES);
}

/** Every line, in the order of `boxes`; the runs go one after another, so one batch is in memory at a time. */
async function recognise(image: RgbImage, boxes: TextBox[], context: FunctionContext, keys: readonly string[]): Promise<ReadLine[]> {
  const sizes = boxes.map((box) => ({ width: box.x1 - box.x0, height: box.y1 - box.y0 }));
  const read: ReadLine[] = boxes.map((box) => ({ box, text: "", confidence: 0 }));
  for (const batch of recBatches(sizes, context.maxBatch(REC_MODEL))) {
    const input = recBatchInput(sizes, batch, (index) => cropLine(image, boxes[index]!));
    const [probabilities] = await context.infer(REC_MODEL, [input], [REC_OUTPUT]);
    const [rows = 0, timesteps = 0, classes = 0] = probabilities?.shape ?? [];
    if (!probabilities || rows !== batch.length) throw new HttpError(500, `${REC_MODEL} answered ${rows} rows for a batch of ${batch.length}`);
    // A model whose classes are not this dictionary's is a deployment mistake, not the caller's.
    if (classes !== keys.length + 2) throw new HttpError(500, `${REC_MODEL} has ${classes} classes; its dictionary has ${keys.length} keys (want keys + 2)`);
    const data = probabilities.data as Float32Array;
    const rowSize = timesteps * classes;
    batch.forEach((index, row) => {
      const { text, confidence } = ctcGreedyDecode(data.subarray(row * rowSize, (row + 1) * rowSize), timesteps, classes, keys);
      read[index] = { box: boxes[index]!, text, confidence };
    });
  }
  return read;
}
