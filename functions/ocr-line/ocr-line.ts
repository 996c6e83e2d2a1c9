/**
 * @module `ocr-line`: the text of one line image with PP-OCRv4 recognition. The image is decoded
 * (image.ts), scaled to the model's height of 48 keeping its aspect ratio (resize.ts) and
 * normalised (preprocess.ts) in the router; the one model run goes through the normal inference
 * path with the caller's tier and deadline (one hop, batched at the host with other lines of the
 * same width); the output is CTC-decoded greedily with the model's dictionary (keys.ts).
 */
import { HttpError, payloadTooLarge } from "../../protocol/errors.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { defineFunction } from "../contract.ts";
import { ctcGreedyDecode } from "../ocr/ctc-decode.ts";
import { decodeImage } from "../ocr/image.ts";
import { ppocrKeys } from "../ocr/keys.ts";
import { PPOCR_REC_HEIGHT, ppocrRecInput } from "../ocr/preprocess.ts";
import { resizeToHeight } from "../ocr/resize.ts";

const MODEL = "ppocr-rec";
/** The model's one output: [1, width / 8, 6625] probabilities (scripts/models/catalog.ts). */
const OUTPUT = "softmax_11.tmp_0";
/** The model reads a character per 8 columns; narrower than this it has too few steps to read any. */
const MIN_WIDTH = 16;
/** 512 time steps: longer than any line worth reading at once, and a 2.4 MB input tensor. */
const MAX_WIDTH = 4096;

export interface OcrLineAnswer {
  text: string;
  /** Mean probability of the characters read, in (0, 1]. */
  confidence: number;
}

export const ocrLine = defineFunction<Record<string, number>, Tensor, Tensor>({
  name: "ocr-line",
  description: "The text of one line image (PNG or JPEG) with PP-OCRv4 recognition (Chinese and Latin script).",
  accepts: ["image/png", "image/jpeg"],
  models: [MODEL],
  options: {},
  decode(body, mediaType) {
    const image = decodeImage(body, mediaType);
    // As PaddleOCR sizes a line: height 48, the width that keeps the aspect ratio, rounded up.
    const width = Math.max(MIN_WIDTH, Math.ceil((image.width * PPOCR_REC_HEIGHT) / image.height));
    if (width > MAX_WIDTH) {
      throw payloadTooLarge(`the line is ${image.width}x${image.height}: at height ${PPOCR_REC_HEIGHT} it would be ${width} px wide, more than ${MAX_WIDTH}`);
    }
    const line = resizeToHeight(image, PPOCR_REC_HEIGHT, width);
    return { name: "x", datatype: "FP32", shape: [1, 3, PPOCR_REC_HEIGHT, width], data: ppocrRecInput(line.rgb, width, PPOCR_REC_HEIGHT) };
  },
  async run(input, context) {
    const [probabilities] = await context.infer(MODEL, [input], [OUTPUT]);
    if (!probabilities) throw new HttpError(500, `${MODEL} answered without its output`);
    return probabilities;
  },
  post(probabilities): OcrLineAnswer {
    const [, timesteps = 0, classes = 0] = probabilities.shape;
    const keys = ppocrKeys();
    // A model whose classes are not this dictionary's is a deployment mistake, not the caller's.
    if (classes !== keys.length + 2) throw new HttpError(500, `${MODEL} has ${classes} classes; its dictionary has ${keys.length} keys (want keys + 2)`);
    const { text, confidence } = ctcGreedyDecode(probabilities.data as Float32Array, timesteps, classes, keys);
    return { text, confidence };
  },
});
