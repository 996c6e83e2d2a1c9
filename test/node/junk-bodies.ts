/** @module About 1 MB JSON request bodies of junk that parse into many times their size in objects; shared by oip-request-junk.test.ts and scripts/measure-junk-heap.ts. */

const MB = 1 << 20;
const utf8 = new TextEncoder();
const VALID_INPUT = '{"name":"x","datatype":"FP32","shape":[2],"data":[1,2]}';

/** A valid one-input request with `junk` (raw JSON) under an extra top-level key, which the parser ignores. */
function withJunk(junk: string): Uint8Array {
  return utf8.encode(`{"inputs":[${VALID_INPUT}],"junk":${junk}}`);
}

/** Each body is valid JSON (JSON.parse builds all of it) of about `bytes` bytes. */
export function junkBodies(bytes = MB): Record<string, Uint8Array> {
  const arrays = Math.floor(bytes / 2);
  const objects = Math.floor(bytes / 6);
  const small = Math.floor(bytes / 3);
  const numbers = Math.floor(bytes / 4);
  return {
    "nested arrays [[[...]]]": utf8.encode(`{"inputs":${"[".repeat(arrays)}${"]".repeat(arrays)}}`),
    'nested objects {"a":{"a":...}}': withJunk(`${'{"a":'.repeat(objects)}1${"}".repeat(objects)}`),
    "a huge array of small objects": withJunk(`[${"{},".repeat(small)}{}]`),
    "data far longer than its shape [2]": utf8.encode(`{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[${"1.5,".repeat(numbers)}1]}]}`),
    // A shape that allows everything (10^12 elements, or NaN after an overflow) must not let empty arrays or objects through.
    "empty arrays in data under a shape of 10^12": utf8.encode(
      `{"inputs":[{"name":"x","datatype":"FP32","shape":[1000000000000],"data":[${"[],".repeat(numbers)}[]]}]}`,
    ),
    "empty arrays in data under a shape whose count is NaN": utf8.encode(
      `{"inputs":[{"name":"x","datatype":"FP32","shape":[0,${"9".repeat(400)}],"data":[${"[],".repeat(numbers)}[]]}]}`,
    ),
    "objects in data under its own shape": utf8.encode(`{"inputs":[{"name":"x","datatype":"FP32","shape":[${small}],"data":[${"{},".repeat(small - 1)}{}]}]}`),
    "rows of one element under their own shape": utf8.encode(
      `{"inputs":[{"name":"x","datatype":"FP32","shape":[${numbers},1],"data":[${"[0],".repeat(numbers - 1)}[0]]}]}`,
    ),
  };
}
