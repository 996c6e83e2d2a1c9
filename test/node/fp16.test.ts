/** @module Bit-exact tests of protocol/fp16.ts, against hand-picked cases and Node's own Float16Array. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { floatToHalf, floatsToHalves, halfToFloat, halvesToFloats, isHalfNonFinite } from "../../protocol/oip/fp16.ts";

const hex = (n: number): string => `0x${n.toString(16).padStart(4, "0")}`;

describe("floatToHalf", () => {
  const cases: [number, number][] = [
    [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [1 / 3, 0x3555],
    [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [-65520, 0xfc00], [1e10, 0x7c00],
    [Infinity, 0x7c00], [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: to even (0)
    [1.5 * 2 ** -24, 0x0002], // tie between 1 and 2 units: to even (2)
    [2 ** -25 + 2 ** -60, 0x0001], // just above the tie
    [1023.5 * 2 ** -24, 0x0400], // tie between the largest subnormal and the smallest normal
    [1 + 2 ** -11, 0x3c00], // tie: to even
    [1 + 3 * 2 ** -11, 0x3c02], // tie: to even (up)
    // Just above a tie, but float32 would round it onto the tie first: double rounding gets 0x3c00.
    [1 + 2 ** -11 + 2 ** -40, 0x3c01],
    [1e-10, 0x0000],
  ];
  for (const [value, bits] of cases) {
    it(`${value} -> ${hex(bits)}`, () => assert.equal(hex(floatToHalf(value)), hex(bits)));
  }

  it("NaN -> a quiet NaN", () => {
    assert.equal(floatToHalf(Number.NaN), 0x7e00);
    assert.ok(Number.isNaN(halfToFloat(floatToHalf(Number.NaN))));
  });

  it("round-trips every finite and infinite half exactly", () => {
    for (let bits = 0; bits <= 0xffff; bits++) {
      if ((bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0) {
        assert.ok(Number.isNaN(halfToFloat(bits)), hex(bits));
        continue;
      }
      assert.equal(floatToHalf(halfToFloat(bits)), bits, hex(bits));
    }
  });

  it("rounds every midpoint between adjacent positive halves to even, and its neighbours to nearest", () => {
    for (let bits = 0; bits < 0x7bff; bits++) {
      const low = halfToFloat(bits);
      const high = halfToFloat(bits + 1);
      const mid = (low + high) / 2; // exact in doubles
      const even = bits % 2 === 0 ? bits : bits + 1;
      assert.equal(floatToHalf(mid), even, `midpoint after ${hex(bits)}`);
      const nudge = (high - low) / 1024;
      assert.equal(floatToHalf(mid - nudge), bits, `below midpoint after ${hex(bits)}`);
      assert.equal(floatToHalf(mid + nudge), bits + 1, `above midpoint after ${hex(bits)}`);
    }
  });

  it("agrees with Math.f16round on random doubles", { skip: typeof Math.f16round !== "function" }, () => {
    const f16 = new Float16Array(1);
    const u16 = new Uint16Array(f16.buffer);
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 200_000; i++) {
      const value = (random() - 0.5) * 2 ** (random() * 44 - 28);
      f16[0] = value;
      assert.equal(floatToHalf(value), u16[0], `${value}`);
    }
  });
});

describe("halfToFloat and the array helpers", () => {
  it("decodes special values", () => {
    assert.equal(halfToFloat(0x7c00), Infinity);
    assert.equal(halfToFloat(0xfc00), -Infinity);
    assert.ok(Object.is(halfToFloat(0x8000), -0));
    assert.equal(halfToFloat(0x0001), 2 ** -24);
    assert.equal(halfToFloat(0x7bff), 65504);
  });

  it("converts arrays both ways", () => {
    const halves = floatsToHalves(new Float32Array([0.5, -2, 65504, Infinity]));
    assert.deepEqual([...halves], [0x3800, 0xc000, 0x7bff, 0x7c00]);
    assert.deepEqual([...halvesToFloats(halves)], [0.5, -2, 65504, Infinity]);
  });

  it("flags only NaN and infinities as non-finite", () => {
    assert.ok(isHalfNonFinite(0x7c00) && isHalfNonFinite(0xfc00) && isHalfNonFinite(0x7e00));
    assert.ok(!isHalfNonFinite(0x7bff) && !isHalfNonFinite(0x0000) && !isHalfNonFinite(0x8001));
  });
});
