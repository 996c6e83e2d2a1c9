/** @module Parsers for option values, so a bad number is refused with the usage line before anything is sent. */
import { InvalidArgumentError } from "commander";

function integer(min: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < min) {
      throw new InvalidArgumentError(min === 0 ? "must be a whole number, 0 or more" : `must be a whole number, ${min} or more`);
    }
    return parsed;
  };
}

export const positiveInteger = integer(1);
export const nonNegativeInteger = integer(0);

/** A share from 0 to 1, such as a sampling rate. */
export function rate(value: string): number {
  const parsed = Number(value);
  if (value.trim() === "" || !Number.isFinite(parsed) || parsed < 0 || parsed > 1) throw new InvalidArgumentError("must be a number from 0 to 1");
  return parsed;
}

/** A finite number from 0, such as a bound on an error. */
export function nonNegativeNumber(value: string): number {
  const parsed = Number(value);
  if (value.trim() === "" || !Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError("must be a number, 0 or more");
  return parsed;
}

/** `a,b , c` -> ["a", "b", "c"]; empty entries dropped. */
export function commaList(value: string): string[] {
  const items = value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError("must name at least one model, or *");
  return items;
}
