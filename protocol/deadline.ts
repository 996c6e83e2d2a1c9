/** @module Racing work against a deadline, for the edge router and the origin alike. */
import { HttpError } from "./errors.ts";

/**
 * Settles with `work`, or rejects with a 504 at `deadlineAt` (epoch ms) if it has not settled.
 * @example await beforeDeadline(Date.now() + 500, fetch(url), "the origin did not answer in time")
 */
export async function beforeDeadline<T>(deadlineAt: number, work: Promise<T>, message = "the deadline passed before the model answered"): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpError(504, message)), Math.max(0, deadlineAt - Date.now()));
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
