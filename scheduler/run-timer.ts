/**
 * @module Times a model run so the measurement holds on the deployed Workers runtime, whose
 * clock stands still during synchronous work: Date.now() and performance.now() return the time
 * of the isolate's last resume from I/O or a timer (a Spectre mitigation). onnxruntime-web runs
 * a session synchronously inside wasm (one thread, no proxy) even though `session.run` returns
 * a promise, so a plain Date.now() pair around it reads ~0 ms there and the predictor would
 * learn nothing. Awaiting one timer tick on each side makes the clock resume, so both readings
 * are fresh: the one before is not stale by the synchronous work since the last I/O (merging
 * inputs), the one after has moved past the run. The cost is two macrotask turns (well under a
 * millisecond), and the measurement includes them plus any other event that runs in between,
 * an overestimate that errs on the safe side for admission. Under Node's real clock the ticks
 * are harmless, so the same helper fits both runtimes.
 */

/** Resumes from a timer: on the deployed runtime that is what advances the clock. */
const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Runs `run` and returns its value with its wall time in milliseconds. */
export async function timeRun<T>(run: () => Promise<T>, now: () => number = Date.now): Promise<{ value: T; ms: number }> {
  await tick();
  const startedAt = now();
  const value = await run();
  await tick();
  return { value, ms: Math.max(0, now() - startedAt) };
}
