/**
 * @module Checks shared by the tests of deliberate refusals (429, 503): the status, the
 * `{"error": ...}` body and a Retry-After that is a positive whole number of seconds; and fresh
 * names, so each test has its own models, tenants and hosts.
 */
import { expect } from "vitest";

/** A name no other test uses: `prefix-` and 8 random hex digits. */
export function freshName(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Asserts a refusal with `status`, a Retry-After of a positive integer, and returns its error message. */
export async function expectRefusal(response: Response, status: 429 | 503): Promise<string> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expectRetryAfter(response);
  const body = JSON.parse(text) as { error?: unknown };
  expect(typeof body.error, text).toBe("string");
  return body.error as string;
}

/** Retry-After is present and a positive integer (delta-seconds, RFC 9110 §10.2.3). */
export function expectRetryAfter(response: Response): void {
  const value = response.headers.get("retry-after");
  expect(value ?? "(no Retry-After)", `Retry-After on a ${response.status}`).toMatch(/^[1-9]\d*$/);
}
