/**
 * @module A pass over a request's JSON bytes before JSON.parse, allocating nothing, that refuses
 * junk whose parsed form would cost far more memory than its bytes: about 3 bytes of `{},` become
 * an object of tens of bytes, so a 1 MB body could grow into 15+ MB of objects before any check
 * after the parse ran. It is not a validator: malformed JSON passes here and JSON.parse refuses
 * it. It bounds what JSON.parse may build: nesting depth, the values outside tensor data, each
 * input's data values against what its declared shape allows (never more than the request's
 * element limit, whatever the shape declares), the data values of all inputs, and the arrays
 * nested in data; data holds no objects at all.
 */
import { badRequest, payloadTooLarge } from "../errors.ts";
import { MAX_RANK } from "./wire-tensors.ts";

/** The root object, `inputs`, an input object, then up to MAX_RANK levels of nested data. */
export const MAX_JSON_DEPTH = MAX_RANK + 3;
/**
 * Values (scalars, arrays, objects) allowed outside input data: names, datatypes, shapes (at
 * most 64 inputs x 64 dims is 4096), parameters and requested outputs fit with room to spare,
 * and 16k values of junk parse into well under 1 MB.
 */
export const MAX_VALUES_OUTSIDE_DATA = 16_384;
/**
 * Data values an input may carry beyond what its shape allows before it is refused here; a small
 * mismatch is left to the check after the parse, whose message names the position.
 */
const DATA_SLACK = 4096;
/**
 * Arrays nested in the data of a request's inputs, per element the request may hold: an empty or
 * one-element array costs JSON.parse some 30-60 bytes, so a body of `[0],[0],...` at the size
 * limit would parse into more than an isolate's memory. A nested shape's rows rarely hold fewer
 * than 8 elements; flat data (or the binary extension) serves any shape without nested arrays.
 */
const DATA_ARRAYS_PER_ELEMENT = 1 / 8;

// Bytes the scan acts on; inside strings only the quote and backslash matter.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const ZERO = 0x30;
const NINE = 0x39;

// The keys the scan follows: `inputs` at the root, `shape` and `data` in an input.
const OTHER_KEY = 0;
const INPUTS_KEY = 1;
const SHAPE_KEY = 2;
const DATA_KEY = 3;

const KEYS: [Uint8Array, number][] = [
  [new TextEncoder().encode("inputs"), INPUTS_KEY],
  [new TextEncoder().encode("shape"), SHAPE_KEY],
  [new TextEncoder().encode("data"), DATA_KEY],
];

function keyAt(bytes: Uint8Array, start: number, end: number): number {
  outer: for (const [name, key] of KEYS) {
    if (end - start !== name.length) continue;
    for (let k = 0; k < name.length; k++) if (bytes[start + k] !== name[k]) continue outer;
    return key;
  }
  return OTHER_KEY;
}

/** 1 for whitespace, 2 for the bytes that end a number or literal (structure, quote): a table, as this runs per byte. */
const CLASS = new Uint8Array(256);
for (const c of [0x20, 0x0a, 0x0d, 0x09]) CLASS[c] = 1;
for (const c of [QUOTE, COMMA, COLON, OPEN_BRACKET, CLOSE_BRACKET, OPEN_BRACE, CLOSE_BRACE]) CLASS[c] = 2;

/** One input object's tallies; the shape is read dim by dim as it streams past. */
interface InputTally {
  dataValues: number;
  dataScalars: number;
  shapeValid: boolean;
  shapeSeen: boolean;
  /** Product of the dims so far: the element count once the shape closes. */
  elements: number;
  /** Arrays the nested form of the shape has: 1 + d0 + d0*d1 + ... (all but the last level). */
  arrays: number;
}

/** What the scan counted in the inputs' data: what JSON.parse is about to build there. */
export interface ScannedData {
  /** Numbers, strings and literals in data. */
  scalars: number;
  /** Arrays nested in data. */
  arrays: number;
}

/**
 * Throws 400 or 413 when the JSON in `bytes` would parse into more than a request may hold;
 * `maxElements` bounds the data values of all inputs together, as the shapes are bounded later.
 *
 * @example
 * scanRequestJson(new TextEncoder().encode("[".repeat(100)), 1e6) // throws 400: nested too deep
 */
export function scanRequestJson(bytes: Uint8Array, maxElements: number): ScannedData {
  const kinds = new Uint8Array(MAX_JSON_DEPTH + 1); // 1: object, 2: array
  const keys = new Uint8Array(MAX_JSON_DEPTH + 1);
  let depth = 0;
  let expectValue = true;
  let inInputs = false; // inside the root object's `inputs` array (depth 2)
  let outside = 0;
  let totalScalars = 0;
  let totalArrays = 0;
  const maxArrays = Math.max(1024, Math.floor(maxElements * DATA_ARRAYS_PER_ELEMENT));
  // What a shape allows, never more than the request may hold: a shape of 1e12 elements, or one
  // whose element count is NaN (a zero after an overflow to Infinity), allows what the limit does.
  const allowance = (n: number): number => (Number.isFinite(n) ? Math.min(n, maxElements) : maxElements);
  let index = -1;
  let tally: InputTally | undefined;

  const countOutside = (n: number): void => {
    outside += n;
    if (outside > MAX_VALUES_OUTSIDE_DATA) {
      throw payloadTooLarge(`the request JSON has more than ${MAX_VALUES_OUTSIDE_DATA} values outside tensor data`);
    }
  };
  const finishInput = (t: InputTally): void => {
    if (!t.shapeSeen || !t.shapeValid) {
      // Without a usable shape the parse refuses the input anyway; its data is bounded as junk.
      countOutside(t.dataValues);
      return;
    }
    const allowed = allowance(t.elements) + Math.max(allowance(t.arrays), 1) + DATA_SLACK;
    if (t.dataValues > allowed) {
      const declared = Number.isFinite(t.elements) ? `the ${t.elements} elements its shape declares` : "what its shape declares";
      throw badRequest(`inputs[${index}]: data holds ${t.dataValues} values, far more than ${declared}`);
    }
  };

  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const c = bytes[i] as number;
    const cls = CLASS[c];
    if (cls === 1) {
      i++;
      continue;
    }
    const isValue = expectValue && c !== CLOSE_BRACKET;
    expectValue = false;
    if (isValue) {
      const inputLevel = inInputs && depth >= 3 && kinds[3] === 1 && tally !== undefined;
      const key = inputLevel ? keys[3] : OTHER_KEY;
      if (inputLevel && key === DATA_KEY) {
        // The values in data, not data itself: nested rows count, as JSON.parse builds them.
        if (depth > 3) tally!.dataValues++;
        if (c === OPEN_BRACE)
          throw badRequest(`inputs[${index}].data holds an object; tensor data is numbers, booleans or strings, flat or nested as the shape`);
        if (c === OPEN_BRACKET && depth > 3 && ++totalArrays > maxArrays) {
          throw payloadTooLarge(
            `the request's data nests more than ${maxArrays} arrays; send the data flat (row-major, as OIP allows) or with the binary extension`,
          );
        }
        if (c !== OPEN_BRACKET) {
          tally!.dataScalars++;
          if (++totalScalars > maxElements) {
            throw payloadTooLarge(
              `the request's inputs hold more than ${maxElements} data values; the limit on elements across a request's inputs is ${maxElements}`,
            );
          }
        }
      } else {
        countOutside(1);
        if (inputLevel && key === SHAPE_KEY) {
          const t = tally!;
          if (depth === 3) {
            // The shape itself: a new one replaces an earlier one, as in JSON.parse.
            t.shapeSeen = true;
            t.shapeValid = c === OPEN_BRACKET;
            t.elements = 1;
            t.arrays = 0;
          } else if (depth === 4 && c >= ZERO && c <= NINE) {
            let dim = 0;
            let j = i;
            for (; j < n && (bytes[j] as number) >= ZERO && (bytes[j] as number) <= NINE; j++) dim = dim * 10 + ((bytes[j] as number) - ZERO);
            const next = bytes[j];
            if (next === 0x2e || next === 0x65 || next === 0x45) t.shapeValid = false;
            t.arrays += t.elements;
            t.elements *= dim;
            i = j;
            continue;
          } else {
            t.shapeValid = false;
          }
        }
      }
    }
    if (cls === 0) {
      // The rest of a number or literal: nothing in it matters here, JSON.parse checks it.
      while (i < n && CLASS[bytes[i] as number] === 0) i++;
      continue;
    }
    switch (c) {
      case QUOTE: {
        let j = i + 1;
        while (j < n && bytes[j] !== QUOTE) j += bytes[j] === BACKSLASH ? 2 : 1;
        if (!isValue && kinds[depth] === 1) keys[depth] = keyAt(bytes, i + 1, j);
        i = j + 1;
        continue;
      }
      case OPEN_BRACE:
      case OPEN_BRACKET: {
        if (++depth > MAX_JSON_DEPTH) throw badRequest(`the request JSON is nested more than ${MAX_JSON_DEPTH} levels deep`);
        kinds[depth] = c === OPEN_BRACE ? 1 : 2;
        keys[depth] = OTHER_KEY;
        if (c === OPEN_BRACKET) {
          expectValue = true;
          if (depth === 2 && kinds[1] === 1 && keys[1] === INPUTS_KEY) inInputs = true;
        } else if (inInputs && depth === 3) {
          index++;
          tally = { dataValues: 0, dataScalars: 0, shapeValid: false, shapeSeen: false, elements: 1, arrays: 0 };
        }
        break;
      }
      case CLOSE_BRACE:
      case CLOSE_BRACKET: {
        if (inInputs && depth === 3 && kinds[3] === 1 && tally !== undefined) {
          finishInput(tally);
          tally = undefined;
        }
        if (depth === 2) inInputs = false;
        if (depth > 0) depth--;
        break;
      }
      case COLON:
        expectValue = true;
        break;
      case COMMA:
        if (kinds[depth] === 2) expectValue = true;
        break;
    }
    i++;
  }
  return { scalars: totalScalars, arrays: totalArrays };
}
