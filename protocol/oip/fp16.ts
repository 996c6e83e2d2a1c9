/**
 * @module IEEE 754 half precision (binary16) <-> JavaScript numbers, bit-exact, with no Float16Array.
 *
 * FP16 tensors travel as raw half bits in a Uint16Array (see TensorData). Conversion goes straight
 * from a double to half with round-to-nearest-even: going through float32 first (Math.fround)
 * would round twice and get some ties wrong.
 */

const HALF_INFINITY = 0x7c00;
/** The canonical quiet NaN; NaN payloads are not preserved. */
const HALF_NAN = 0x7e00;
/** Every number at or above this rounds to +Infinity in half (max finite 65504, next tie at 65520). */
export const HALF_OVERFLOW_THRESHOLD = 65520;

/** Rounds a non-negative double to an integer, ties to even. `q - floor(q)` is exact in doubles. */
function roundHalfEven(q: number): number {
  const floor = Math.floor(q);
  const fraction = q - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The half bits nearest to `value` (round-to-nearest-even; overflow to ±Infinity; subnormals kept).
 *
 * @example
 * floatToHalf(1) // 0x3c00
 * floatToHalf(65519) // 0x7bff (65504)
 */
export function floatToHalf(value: number): number {
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

/**
 * The number that half bits `bits` encode (exact: every half is a double).
 *
 * @example
 * halfToFloat(0x3555) // 0.333251953125
 */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : Number.NaN;
  return sign * (1024 + fraction) * 2 ** (exponent - 25);
}

/**
 * Packs numbers (e.g. a Float32Array) into half bits.
 *
 * @example
 * floatsToHalves(new Float32Array([0.5, -2])) // Uint16Array [0x3800, 0xc000]
 */
export function floatsToHalves(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i] as number);
  return out;
}

/**
 * Unpacks half bits into a Float32Array (exact: every half is a float32).
 *
 * @example
 * halvesToFloats(new Uint16Array([0x3c00])) // Float32Array [1]
 */
export function halvesToFloats(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfToFloat(bits[i] as number);
  return out;
}

/** True when the half bits encode NaN or ±Infinity. */
export function isHalfNonFinite(bits: number): boolean {
  return (bits & 0x7c00) === 0x7c00;
}
