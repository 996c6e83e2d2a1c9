/**
 * @module Bit-exact tests of protocol/oip/fp16.ts: the exported conversions, the builtin path
 * (Float16Array) and the hand-written fallback each against hand-picked cases and Node's own
 * Float16Array, and the two paths against each other over every half and the rounding edges.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import {
  builtinFp16,
  fallbackFp16,
  floatToHalf,
  floatsToHalves,
  fp16Implementation,
  type Fp16Codec,
  halfToFloat,
  halvesToFloats,
  isHalfNonFinite,
} from "../../protocol/oip/fp16.ts";

const hex = (n: number): string => `0x${n.toString(16).padStart(4, "0")}`;
const hasBuiltin = typeof Float16Array === "function";

/** The doubles with these bit patterns (for NaNs with a sign or payload, which JS cannot write). */
const doubleFromBits = (hi: number, lo = 0): number => new Float64Array(new Uint32Array([lo, hi]).buffer)[0]!;

/** Seeded, so failures repeat. */
function randomDoubles(count: number): number[] {
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  return Array.from({ length: count }, () => (random() - 0.5) * 2 ** (random() * 44 - 28));
}

function suite(name: string, codec: Fp16Codec): void {
  const { floatToHalf, halfToFloat, floatsToHalves, halvesToFloats } = codec;

  describe(`${name}: floatToHalf`, () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [1 / 3, 0x3555],
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [-65520, 0xfc00],
      [1e10, 0x7c00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
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

    it("NaN of any sign or payload -> the canonical quiet NaN", () => {
      for (const nan of [doubleFromBits(0xfff80000), doubleFromBits(0x7ff00000, 1), doubleFromBits(0xfff7ffff, 0xffffffff)]) {
        assert.equal(hex(floatToHalf(nan)), "0x7e00");
      }
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

    it("agrees with Node's Float16Array on random doubles", { skip: !hasBuiltin }, () => {
      const f16 = new Float16Array(1);
      const u16 = new Uint16Array(f16.buffer);
      for (const value of randomDoubles(200_000)) {
        f16[0] = value;
        assert.equal(floatToHalf(value), u16[0], `${value}`);
      }
    });
  });

  describe(`${name}: halfToFloat and the array helpers`, () => {
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

    it("converts arrays with NaNs to canonical NaNs, from plain arrays and from an offset view", () => {
      const halves = floatsToHalves([1, -Number.NaN, doubleFromBits(0xfff80000), -0]);
      assert.deepEqual([...halves], [0x3c00, 0x7e00, 0x7e00, 0x8000]);
      const buffer = new Uint16Array([0xffff, 0x7d00, 0xfe01, 0x3c00, 0xffff]);
      const floats = halvesToFloats(new Uint16Array(buffer.buffer, 2, 3));
      assert.deepEqual([...new Uint32Array(floats.buffer)], [0x7fc00000, 0x7fc00000, 0x3f800000]);
    });
  });
}

suite("exports", { floatToHalf, halfToFloat, floatsToHalves, halvesToFloats });
suite("fallback", fallbackFp16);
if (builtinFp16) suite("builtin", builtinFp16);

describe("the choice of path", () => {
  it("takes the builtin exactly where the runtime has Float16Array (Node 24 has)", () => {
    assert.equal(fp16Implementation, hasBuiltin ? "builtin" : "fallback");
    assert.equal(builtinFp16 !== undefined, hasBuiltin);
    assert.equal(floatToHalf, (builtinFp16 ?? fallbackFp16).floatToHalf);
    assert.equal(halvesToFloats, (builtinFp16 ?? fallbackFp16).halvesToFloats);
  });

  it("takes the fallback where the runtime has no Float16Array (as Node 20)", () => {
    const url = new URL("../../protocol/oip/fp16.ts", import.meta.url).href;
    const script = `delete globalThis.Float16Array; delete Math.f16round;
      const m = await import(${JSON.stringify(url)});
      console.log(JSON.stringify([m.fp16Implementation, m.builtinFp16 === undefined, m.floatToHalf(1 + 2 ** -11 + 2 ** -40), m.halfToFloat(0x3555)]));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "--eval", script], { encoding: "utf8" });
    assert.deepEqual(JSON.parse(out), ["fallback", true, 0x3c01, 0.333251953125]);
  });
});

describe("builtin and fallback agree", { skip: builtinFp16 === undefined }, () => {
  const builtin = builtinFp16!;
  const fallback = fallbackFp16;
  /** Float32 bits of each decoded half: NaNs compare by their (canonical) bits too. */
  const f32Bits = (floats: Float32Array): number[] => [...new Uint32Array(floats.buffer)];

  it("decode all 65536 halves to the same number, one by one and as arrays", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    for (const bits of all) {
      const a = builtin.halfToFloat(bits);
      const b = fallback.halfToFloat(bits);
      assert.ok(Object.is(a, b), `${hex(bits)}: ${a} vs ${b}`);
    }
    assert.deepEqual(f32Bits(builtin.halvesToFloats(all)), f32Bits(fallback.halvesToFloats(all)));
  });

  it("encode every half, midpoint and midpoint neighbour (both signs) to the same bits", () => {
    const positive: number[] = [];
    for (let bits = 0; bits < 0x7c00; bits++) {
      const low = fallback.halfToFloat(bits);
      const high = bits === 0x7bff ? 65536 : fallback.halfToFloat(bits + 1); // 65520 is the midpoint to 2^16
      const mid = (low + high) / 2;
      const nudge = (high - low) / 1024;
      positive.push(low, mid, mid - nudge, mid + nudge);
    }
    const values = positive.concat(positive.map((v) => -v));
    for (const value of values) assert.equal(hex(builtin.floatToHalf(value)), hex(fallback.floatToHalf(value)), `${value}`);
    assert.deepEqual([...builtin.floatsToHalves(values)], [...fallback.floatsToHalves(values)]);
  });

  it("encode specials, overflow and underflow edges to the same bits", () => {
    const values = [
      Number.NaN,
      -Number.NaN,
      doubleFromBits(0xfff80000),
      doubleFromBits(0x7ff00000, 1),
      doubleFromBits(0x7ff40000),
      Infinity,
      -Infinity,
      0,
      -0,
      Number.MIN_VALUE,
      -Number.MIN_VALUE,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      65504,
      65519.99999999999,
      65520,
      65520 - 2 ** -37,
      65536,
      1e300,
      2 ** -24,
      2 ** -25,
      2 ** -25 - 2 ** -80,
      2 ** -25 + 2 ** -80,
      2 ** -26,
      1e-300,
      2 ** -14,
      2 ** -14 - 2 ** -25,
      2 ** -14 - 2 ** -26,
      1023.5 * 2 ** -24 - 2 ** -70,
      1 + 2 ** -11 + 2 ** -40,
      1 + 2 ** -11 - 2 ** -40,
      2 - 2 ** -12,
      2 - 2 ** -53,
    ];
    for (const value of [...values, ...values.map((v) => -v)]) {
      assert.equal(hex(builtin.floatToHalf(value)), hex(fallback.floatToHalf(value)), `${value}`);
    }
  });

  it("encode random doubles and float32s to the same bits", () => {
    const doubles = randomDoubles(100_000);
    assert.deepEqual([...builtin.floatsToHalves(doubles)], [...fallback.floatsToHalves(doubles)]);
    const floats = new Float32Array(doubles);
    assert.deepEqual([...builtin.floatsToHalves(floats)], [...fallback.floatsToHalves(floats)]);
  });
});

describe("isHalfNonFinite", () => {
  it("flags only NaN and infinities as non-finite", () => {
    assert.ok(isHalfNonFinite(0x7c00) && isHalfNonFinite(0xfc00) && isHalfNonFinite(0x7e00));
    assert.ok(!isHalfNonFinite(0x7bff) && !isHalfNonFinite(0x0000) && !isHalfNonFinite(0x8001));
  });
});
