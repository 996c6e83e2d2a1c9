/**
 * @module IEEE 754 half precision (binary16) <-> JavaScript numbers, bit-exact.
 *
 * FP16 tensors travel as raw half bits in a Uint16Array (see TensorData). The conversions use the
 * runtime's own Float16Array (ES2025, with Math.f16round), which both runtimes hotpath ships on
 * have: workerd (wrangler 4.x) and Node 24, unflagged. The hand-written conversion is kept only as
 * a fallback for runtimes without Float16Array: Node before 24 (package.json allows Node >= 20;
 * Node 20 has neither Float16Array nor a flag for it) and older engines that import protocol/.
 * The choice is made once, when this module loads, not per element.
 *
 * Both paths round a double straight to half, to nearest with ties to even (going through float32
 * first, e.g. Math.fround, would round twice and get some ties wrong), and both give the canonical
 * quiet NaN (0x7e00 in half, Number.NaN out): NaN payloads and signs are not preserved, so every
 * runtime writes the same bits.
 */

const HALF_INFINITY = 0x7c00;
/** The canonical quiet NaN; NaN payloads are not preserved. */
const HALF_NAN = 0x7e00;
/** Every number at or above this rounds to +Infinity in half (max finite 65504, next tie at 65520). */
export const HALF_OVERFLOW_THRESHOLD = 65520;

/** The four conversions; one implementation per path, so tests can hold each to the other. */
export interface Fp16Codec {
  /** The half bits nearest to `value` (round-to-nearest-even; overflow to ±Infinity; subnormals kept). */
  floatToHalf(value: number): number;
  /** The number that half bits `bits` encode (exact: every half is a double). */
  halfToFloat(bits: number): number;
  /** Packs numbers (e.g. a Float32Array) into half bits. */
  floatsToHalves(values: ArrayLike<number>): Uint16Array;
  /** Unpacks half bits into a Float32Array (exact: every half is a float32). */
  halvesToFloats(bits: Uint16Array): Float32Array;
}

/** True when the half bits encode NaN or ±Infinity. */
export function isHalfNonFinite(bits: number): boolean {
  return (bits & 0x7c00) === 0x7c00;
}

/** True when the half bits encode a NaN (any sign or payload). */
function isHalfNaN(bits: number): boolean {
  return (bits & 0x7fff) > HALF_INFINITY;
}

// ---- Fallback: by hand, for runtimes without Float16Array ----

/** Rounds a non-negative double to an integer, ties to even. `q - floor(q)` is exact in doubles. */
function roundHalfEven(q: number): number {
  const floor = Math.floor(q);
  const fraction = q - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function floatToHalfByHand(value: number): number {
  if (Number.isNaN(value)) return HALF_NAN;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  if (magnitude >= HALF_OVERFLOW_THRESHOLD) return sign | HALF_INFINITY;
  if (magnitude < 2 ** -14) {
    // Subnormal range: the unit is 2^-24. Scaling by a power of two is exact; a result of 1024
    // (rounded up from the largest subnormal) is exactly the encoding of the smallest normal.
    return sign | roundHalfEven(magnitude * 2 ** 24);
  }
  let exponent = Math.floor(Math.log2(magnitude));
  // Math.log2 may be off by one next to powers of two; correct it exactly.
  if (2 ** exponent > magnitude) exponent -= 1;
  else if (2 ** (exponent + 1) <= magnitude) exponent += 1;
  let mantissa = roundHalfEven((magnitude / 2 ** exponent) * 1024); // in [1024, 2048]
  if (mantissa === 2048) {
    mantissa = 1024;
    exponent += 1;
  }
  if (exponent > 15) return sign | HALF_INFINITY;
  return sign | ((exponent + 15) << 10) | (mantissa - 1024);
}

function halfToFloatByHand(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : Number.NaN;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}

/** The hand-written conversions: used where the runtime has no Float16Array, and by the tests. */
export const fallbackFp16: Fp16Codec = {
  floatToHalf: floatToHalfByHand,
  halfToFloat: halfToFloatByHand,
  floatsToHalves(values) {
    const out = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = floatToHalfByHand(values[i] as number);
    return out;
  },
  halvesToFloats(bits) {
    const out = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) out[i] = halfToFloatByHand(bits[i] as number);
    return out;
  },
};

// ---- Builtin: the runtime's Float16Array ----

/** What this module uses of Float16Array, declared here: the Worker's TypeScript lib (es2023) lacks it. */
interface HalfArray {
  [index: number]: number;
  readonly buffer: ArrayBufferLike;
  readonly length: number;
}
interface HalfArrayConstructor {
  new (length: number): HalfArray;
  new (values: ArrayLike<number>): HalfArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): HalfArray;
}

/** The conversions through `Float16Array`: the engine's own rounding, bulk copies for arrays. */
function builtinCodec(Float16: HalfArrayConstructor): Fp16Codec {
  // One-element views on the same two bytes: write a number, read its bits, and back.
  const scratch = new Float16(1);
  const scratchBits = new Uint16Array(scratch.buffer);
  return {
    floatToHalf(value) {
      if (value !== value) return HALF_NAN; // the engine may keep the sign of a NaN
      scratch[0] = value;
      return scratchBits[0] as number;
    },
    halfToFloat(bits) {
      scratchBits[0] = bits;
      const value = scratch[0] as number;
      return value === value ? value : Number.NaN;
    },
    floatsToHalves(values) {
      const out = new Uint16Array(new Float16(values).buffer);
      for (let i = 0; i < out.length; i++) if (isHalfNaN(out[i] as number)) out[i] = HALF_NAN;
      return out;
    },
    halvesToFloats(bits) {
      // Both views are in the platform's byte order, so the bits reinterpret as they are.
      const out = new Float32Array(new Float16(bits.buffer, bits.byteOffset, bits.length));
      for (let i = 0; i < out.length; i++) if (isHalfNaN(bits[i] as number)) out[i] = Number.NaN;
      return out;
    },
  };
}

const Float16 = (globalThis as { Float16Array?: HalfArrayConstructor }).Float16Array;

/** The conversions through the runtime's Float16Array, or undefined where it has none. */
export const builtinFp16: Fp16Codec | undefined = typeof Float16 === "function" ? builtinCodec(Float16) : undefined;

/** Which path the exports below take in this runtime. */
export const fp16Implementation: "builtin" | "fallback" = builtinFp16 ? "builtin" : "fallback";

const active: Fp16Codec = builtinFp16 ?? fallbackFp16;

/**
 * The half bits nearest to `value` (round-to-nearest-even; overflow to ±Infinity; subnormals kept).
 *
 * @example
 * floatToHalf(1) // 0x3c00
 * floatToHalf(65519) // 0x7bff (65504)
 */
export const floatToHalf: (value: number) => number = active.floatToHalf;

/**
 * The number that half bits `bits` encode (exact: every half is a double).
 *
 * @example
 * halfToFloat(0x3555) // 0.333251953125
 */
export const halfToFloat: (bits: number) => number = active.halfToFloat;

/**
 * Packs numbers (e.g. a Float32Array) into half bits.
 *
 * @example
 * floatsToHalves(new Float32Array([0.5, -2])) // Uint16Array [0x3800, 0xc000]
 */
export const floatsToHalves: (values: ArrayLike<number>) => Uint16Array = active.floatsToHalves;

/**
 * Unpacks half bits into a Float32Array (exact: every half is a float32).
 *
 * @example
 * halvesToFloats(new Uint16Array([0x3c00])) // Float32Array [1]
 */
export const halvesToFloats: (bits: Uint16Array) => Float32Array = active.halvesToFloats;
