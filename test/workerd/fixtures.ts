/**
 * @module Typed access to the cases scripts/make-fixtures.ts writes, and a comparison of
 * hotpath's outputs with the onnxruntime-node outputs stored in them.
 */
import { expect } from "vitest";
import { fixtureJson } from "./helpers.ts";

export interface FixtureTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

export interface Fixture {
  model: string;
  version: string;
  inputs: FixtureTensor[];
  outputs: FixtureTensor[];
  expectedText?: string;
}

export const loadFixture = (name: string): Promise<Fixture> => fixtureJson<Fixture>(`fixtures/${name}.json`);

/** Every expected output is present with the same shape and values within `tolerance`. */
export function expectOutputsClose(actual: { name: string; shape: number[]; data: ArrayLike<number> }[], expected: FixtureTensor[], tolerance = 1e-4): void {
  for (const want of expected) {
    const got = actual.find((o) => o.name === want.name);
    expect(got, `output ${want.name}`).toBeDefined();
    expect(got!.shape).toEqual(want.shape);
    expect(got!.data.length).toBe(want.data.length);
    let worst = 0;
    for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(Number(got!.data[i]) - want.data[i]!));
    expect(worst, `max abs difference of ${want.name}`).toBeLessThanOrEqual(tolerance);
  }
}
