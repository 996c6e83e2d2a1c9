/**
 * FP16 inside workerd: the runtime has Float16Array and Math.f16round, so protocol/oip/fp16.ts
 * takes the builtin path here; it must give the hand-written fallback's bits for every half, every
 * rounding midpoint and the special values, and the OIP JSON codec must carry FP16 through it.
 */
import { describe, expect, it } from "vitest";
import { builtinFp16, fallbackFp16, floatToHalf, fp16Implementation, halfToFloat } from "../../protocol/oip/fp16.ts";
import { jsonToTensorData, tensorDataToJson } from "../../protocol/oip/json-tensor.ts";

const hex = (n: number): string => `0x${n.toString(16).padStart(4, "0")}`;
const doubleFromBits = (hi: number, lo = 0): number => new Float64Array(new Uint32Array([lo, hi]).buffer)[0]!;

describe("FP16 in workerd", () => {
  it("has the builtins, and the exports take them", () => {
    const g = globalThis as { Float16Array?: unknown };
    expect(typeof g.Float16Array).toBe("function");
    expect(typeof (Math as { f16round?: unknown }).f16round).toBe("function");
    expect(fp16Implementation).toBe("builtin");
    expect(builtinFp16).toBeDefined();
    expect(floatToHalf).toBe(builtinFp16!.floatToHalf);
    expect(halfToFloat).toBe(builtinFp16!.halfToFloat);
  });

  it("decodes all 65536 halves as the fallback does", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const mismatches: string[] = [];
    for (const bits of all) {
      if (!Object.is(builtinFp16!.halfToFloat(bits), fallbackFp16.halfToFloat(bits))) mismatches.push(hex(bits));
    }
    expect(mismatches).toEqual([]);
    const f32Bits = (floats: Float32Array): Uint32Array => new Uint32Array(floats.buffer);
    expect(f32Bits(builtinFp16!.halvesToFloats(all))).toEqual(f32Bits(fallbackFp16.halvesToFloats(all)));
  });

  it("encodes every half, midpoint and midpoint neighbour, and the specials, as the fallback does", () => {
    const positive: number[] = [
      Number.NaN,
      doubleFromBits(0xfff80000),
      doubleFromBits(0x7ff00000, 1),
      Infinity,
      0,
      Number.MIN_VALUE,
      Number.MAX_VALUE,
      65519.99999999999,
      65520,
      2 ** -25,
      2 ** -25 + 2 ** -80,
      1 + 2 ** -11 + 2 ** -40,
      1 + 2 ** -11 - 2 ** -40,
    ];
    for (let bits = 0; bits < 0x7c00; bits++) {
      const low = fallbackFp16.halfToFloat(bits);
      const high = bits === 0x7bff ? 65536 : fallbackFp16.halfToFloat(bits + 1);
      const mid = (low + high) / 2;
      const nudge = (high - low) / 1024;
      positive.push(low, mid, mid - nudge, mid + nudge);
    }
    const values = positive.concat(positive.map((v) => -v));
    const mismatches = values.filter((v) => builtinFp16!.floatToHalf(v) !== fallbackFp16.floatToHalf(v)).map(String);
    expect(mismatches).toEqual([]);
    expect(builtinFp16!.floatsToHalves(values)).toEqual(fallbackFp16.floatsToHalves(values));
  });

  it("carries FP16 through the OIP JSON codec", () => {
    const json = [1, 1 / 3, -0.5, 65504, 1 + 2 ** -11 + 2 ** -40, 2 ** -24, "NaN", "-Infinity"];
    const data = jsonToTensorData("FP16", json, "input 'x'", { nonFiniteStrings: true }) as Uint16Array;
    expect([...data].map(hex)).toEqual(["0x3c00", "0x3555", "0xb800", "0x7bff", "0x3c01", "0x0001", "0x7e00", "0xfc00"]);
    expect(tensorDataToJson("FP16", data, "string")).toEqual([1, 0.333251953125, -0.5, 65504, 1 + 2 ** -10, 2 ** -24, "NaN", "-Infinity"]);
  });
});
