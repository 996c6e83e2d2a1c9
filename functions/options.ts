/**
 * @module A function's options: numbers in the query string, each with a default and bounds.
 * Anything the caller gets wrong is a 400 that says what and what would do: an unknown name (a
 * typo must not be silently ignored), a repeated or empty value, text that is not a decimal
 * number, a fraction where a whole number is due, a value out of bounds.
 */
import { badRequest } from "../protocol/errors.ts";

export interface NumberOption {
  type: "number" | "integer";
  default: number;
  min: number;
  max: number;
  description: string;
}

export type OptionSpecs<O> = { readonly [K in keyof O]: NumberOption };

/** A plain decimal: no hex, no exponent, no "Infinity", nothing Number() would quietly turn into 0. */
const DECIMAL = /^-?(?:\d+\.?\d*|\.\d+)$/;

export function parseOptions<O extends Record<string, number>>(functionName: string, specs: OptionSpecs<O>, query: URLSearchParams): O {
  const names = Object.keys(specs) as (keyof O & string)[];
  for (const key of new Set(query.keys())) {
    if (!names.includes(key)) {
      const known = names.length > 0 ? `its options are ${names.join(", ")}` : "it takes no options";
      throw badRequest(`unknown option '${clip(key)}' for function '${functionName}': ${known}`);
    }
  }
  const options = {} as Record<string, number>;
  for (const name of names) {
    const spec = specs[name];
    const values = query.getAll(name);
    if (values.length > 1) throw badRequest(`option '${name}' is given ${values.length} times`);
    options[name] = values.length === 0 ? spec.default : parseValue(name, spec, values[0]!.trim());
  }
  return options as O;
}

function parseValue(name: string, spec: NumberOption, raw: string): number {
  const value = DECIMAL.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(value)) throw badRequest(`option '${name}' must be a number, got '${clip(raw)}'`);
  if (spec.type === "integer" && !Number.isInteger(value)) throw badRequest(`option '${name}' must be a whole number, got '${clip(raw)}'`);
  if (value < spec.min || value > spec.max) throw badRequest(`option '${name}' must be between ${spec.min} and ${spec.max}, got ${value}`);
  return value;
}

/** Echoes at most 32 characters of what the caller sent. */
const clip = (text: string) => (text.length > 32 ? `${text.slice(0, 32)}...` : text);
