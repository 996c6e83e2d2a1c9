/**
 * @module CTC greedy decoding of PP-OCR rec output into text: pure TS (no Node APIs) so it runs in
 * Worker functions as well as in Node tests.
 *
 * Class layout of ch_PP-OCRv4_rec_infer.onnx, checked against the real model: its output is
 * [N, T, 6625] softmax probabilities and ppocr_keys_v1.txt has 6623 lines, so class 0 is the CTC
 * blank, classes 1..6623 are the key lines in order, and class 6624 is a space " "
 * (PaddleOCR's use_space_char).
 */
import { badRequest } from "../../protocol/errors.ts";

export interface CtcResult {
  text: string;
  /**
   * Mean probability of the emitted characters; when nothing was emitted, the mean probability of
   * the blanks (how sure the model is that the line holds no text). In (0, 1] either way.
   */
  confidence: number;
}

/**
 * One key per line. Lines are kept verbatim (no trim): one key in ppocr_keys_v1.txt is the
 * ideographic space U+3000, and trimming would shift every later class by one.
 */
export function parseKeys(text: string): string[] {
  const lines = text.split("\n").map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line));
  if (lines.length > 0 && lines.at(-1) === "") lines.pop(); // a trailing newline is not a key
  return lines;
}

/**
 * Greedy CTC: argmax per timestep, merge repeats, drop blanks. `probs` is one sequence,
 * row-major [timesteps, classes] (batch index 0 of a [1, T, C] output).
 */
export function ctcGreedyDecode(probs: Float32Array, timesteps: number, classes: number, keys: readonly string[]): CtcResult {
  if (probs.length < timesteps * classes) {
    throw badRequest(`ctcGreedyDecode: ${probs.length} values < ${timesteps} x ${classes}`);
  }
  // blank + keys + space; anything else means the keys file does not belong to this model.
  if (classes !== keys.length + 2) {
    throw badRequest(`ctcGreedyDecode: ${classes} classes but ${keys.length} keys (want keys + 2)`);
  }
  let text = "";
  let probSum = 0;
  let emitted = 0;
  let previous = -1;
  let blankSum = 0;
  for (let t = 0; t < timesteps; t++) {
    const row = t * classes;
    let best = 0;
    let bestProb = probs[row]!;
    for (let c = 1; c < classes; c++) {
      const p = probs[row + c]!;
      if (p > bestProb) {
        best = c;
        bestProb = p;
      }
    }
    if (best === 0) blankSum += bestProb;
    if (best !== 0 && best !== previous) {
      text += best === classes - 1 ? " " : keys[best - 1]!;
      probSum += bestProb;
      emitted++;
    }
    previous = best;
  }
  return { text, confidence: emitted > 0 ? probSum / emitted : timesteps > 0 ? blankSum / timesteps : 0 };
}
