/**
 * @module The deployed Workers clock, modeled in Node for one test: Date.now() and
 * performance.now() return the real time of the last resume from a timer (or of installing),
 * so synchronous work, however long, does not move them; a setTimeout callback resumes the
 * isolate and refreshes them first. Resumes from I/O are not modeled (the code tested waits on
 * timers only). Real time stays readable through process.hrtime, which this does not touch.
 */
import type { TestContext } from "node:test";

export function freezeClock(context: TestContext): void {
  const realDateNow = Date.now;
  const realPerfNow = performance.now.bind(performance);
  const realSetTimeout = globalThis.setTimeout;
  let frozenDate = realDateNow();
  let frozenPerf = realPerfNow();
  const resume = () => {
    frozenDate = realDateNow();
    frozenPerf = realPerfNow();
  };
  Date.now = () => frozenDate;
  performance.now = () => frozenPerf;
  globalThis.setTimeout = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) =>
    realSetTimeout(() => {
      resume();
      callback(...args);
    }, ms)) as typeof setTimeout;
  context.after(() => {
    Date.now = realDateNow;
    performance.now = realPerfNow;
    globalThis.setTimeout = realSetTimeout;
  });
}
