/**
 * @module `ocr`: the text lines of a page, a two-model pipeline under the caller's one deadline.
 * The page is decoded and scaled for detection in the router (image.ts, det-preprocess.ts); the
 * detector `ppocr-det` (placement auto: an edge host, or the origin pool when the edge is busy)
 * gives a text probability map, which DB post-processing turns into line boxes in reading order
 * (db-postprocess.ts); the lines are cropped from the original page and recognised by
 * `ppocr-rec` at the edge in as few batched runs as its max_batch allows (rec-batch.ts), then
 * CTC-decoded with the bundled dictionary (page-pipeline.ts). Each model call is one hop on the
 * normal inference path.
 */
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { defineFunction } from "../contract.ts";
import { detInput } from "./det-preprocess.ts";
import { decodeImage, type RgbImage } from "./image.ts";
import { ppocrKeys } from "./keys.ts";
import { DET_MODEL, REC_MODEL, pageAnswer, readPage, type ReadLine } from "./page-pipeline.ts";

export interface OcrOptions extends Record<string, number> {
  min_confidence: number;
}

interface Page {
  image: RgbImage;
  det: Tensor;
}

export const ocr = defineFunction<OcrOptions, Page, ReadLine[]>({
  name: "ocr",
  description: "The text lines of a page (PNG or JPEG) in reading order, with boxes: PP-OCRv4 detection, then recognition (Chinese and Latin script).",
  accepts: ["image/png", "image/jpeg"],
  models: [DET_MODEL, REC_MODEL],
  // A page is two model steps: 0.9 to 1.4 s for the fixture's five lines on an idle wasm host,
  // up to 2.7 s on a busy one, so premium's default of 1 s would time most pages out. Five
  // seconds is every tier's maximum or under it.
  defaultDeadlineMs: 5_000,
  options: {
    min_confidence: { type: "number", default: 0.5, min: 0, max: 1, description: "lines read with a lower confidence are left out (PaddleOCR's drop_score)" },
  },
  decode(body, mediaType) {
    const image = decodeImage(body, mediaType);
    const { data, width, height } = detInput(image);
    return { image, det: { name: "x", datatype: "FP32", shape: [1, 3, height, width], data } };
  },
  run: ({ image, det }, context) => readPage(image, det, context, ppocrKeys()),
  post: (lines, _page, options) => pageAnswer(lines, options.min_confidence),
});
