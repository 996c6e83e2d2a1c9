/**
 * @module Every function hotpath serves, listed at build time (a Worker cannot load code at run
 * time). To add one, write its module and list it here (docs/functions.md).
 */
import type { RegisteredFunction } from "./contract.ts";
import { ocr } from "./ocr/ocr.ts";
import { ocrLine } from "./ocr-line/ocr-line.ts";
import { vad } from "./vad/vad.ts";

export const FUNCTIONS: readonly RegisteredFunction[] = [vad, ocrLine, ocr];

const byName = new Map(FUNCTIONS.map((f) => [f.name, f]));

export function functionNamed(name: string): RegisteredFunction | undefined {
  return byName.get(name);
}
