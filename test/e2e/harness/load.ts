/** @module Waiting and load for the end-to-end tests: a bounded poll, closed-loop clients, and a tally of outcomes. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 100 ms; throws after `timeoutMs`. Resolves with the milliseconds it took. */
export async function waitFor(what: string, condition: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await condition())) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
  return performance.now() - started;
}

/** Runs `one` back to back from `concurrency` clients until `durationMs` has passed or `done()`. */
export async function closedLoop<T>(concurrency: number, durationMs: number, one: () => Promise<T>, done: () => boolean = () => false): Promise<T[]> {
  const until = performance.now() + durationMs;
  const results: T[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until && !done()) results.push(await one());
    }),
  );
  return results;
}

/** How many of `items` fall under each key. */
export function tally<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

export const log = (line: string): void => console.log(`# ${line}`);
