/**
 * @module Builds one origin from its configuration: the inference worker and its execution
 * provider, the model cache and store, the shared Scheduler (one per origin: one device runs one
 * batch at a time, so priorities and the predicted backlog are origin-wide), and the app.
 */
import { TIER_PRIORITIES } from "../config/tiers.ts";
import { Scheduler } from "../scheduler/scheduler.ts";
import { HttpError } from "../protocol/errors.ts";
import type { Tensor } from "../protocol/oip/tensor.ts";
import { createOriginApp } from "./app.ts";
import type { OriginContext } from "./context.ts";
import type { OriginConfig } from "./config.ts";
import { EdgeClient } from "./edge-client.ts";
import { chooseExecutionProvider } from "./execution-provider.ts";
import { InferenceWorker } from "./inference-worker-client.ts";
import { ModelCache } from "./model-cache.ts";
import { ModelLoader } from "./model-loader.ts";
import { ModelStore, type ModelEntry } from "./model-store.ts";
import { zeroInputs } from "./warm-inputs.ts";

export interface Origin extends OriginContext {
  app: ReturnType<typeof createOriginApp>;
  close(): Promise<void>;
}

/**
 * @example
 * const origin = await createOrigin(parseConfig(process.argv.slice(2), process.env), console.log, () => process.exit(1));
 * serve({ fetch: origin.app.fetch, port: origin.config.port });
 */
export async function createOrigin(config: OriginConfig, log: (line: string) => void, onWorkerExit: (reason: string) => void): Promise<Origin> {
  const worker = new InferenceWorker(onWorkerExit);
  try {
    const provider = await chooseExecutionProvider(worker, config.ep, { strict: config.strict, threads: config.threads, log });
    const loader = new ModelLoader({
      cache: new ModelCache(config.cacheDir),
      edge: new EdgeClient(config.edge, config.token),
      worker,
      ep: provider.ep,
      threads: config.threads,
      log,
    });
    // The store warms through the scheduler and the scheduler runs on the store's sessions.
    let scheduler: Scheduler | undefined;
    const store = new ModelStore({ loader, batching: config.batching, log, warm: (entry) => warm(entry, scheduler!, log) });
    scheduler = new Scheduler({
      maxQueueLength: config.maxQueueLength,
      run: (model, inputs, names) => store.run(model, inputs, names),
      reportPriorities: [...new Set([...TIER_PRIORITIES, config.defaultPriority])],
    });
    const context: OriginContext = { config, provider, store, scheduler, startedAt: Date.now() };
    return {
      ...context,
      app: createOriginApp(context),
      async close() {
        store.close();
        await worker.close();
      },
    };
  } catch (error) {
    await worker.close();
    throw error;
  }
}

/**
 * A first run on the session (one-time costs, not worth predicting from), then timed runs of one
 * row and of max_batch rows that teach the scheduler's predictor this model before the first
 * request, so admission can refuse early and correctly from the start.
 */
async function warm(entry: ModelEntry, scheduler: Scheduler, log: (line: string) => void): Promise<void> {
  const { session, host, record } = entry;
  if (!session || !host || !record) return;
  const what = `${entry.name}@${entry.version}`;
  const one = zeroInputs(session.inputs, session.batchAxes, 1);
  if (!one) {
    log(`${what}: no warm run (input dimensions other than the batch are dynamic)`);
    return;
  }
  const outputNames = session.outputs.map((o) => o.name);
  const timedRun = async (inputs: Tensor[]) => {
    const startedAt = performance.now();
    await session.run(inputs, outputNames);
    scheduler.observe(host, inputs, performance.now() - startedAt);
  };
  try {
    await session.run(one, outputNames);
    await timedRun(one);
    const full = record.maxBatch > 1 && session.batchAxes ? zeroInputs(session.inputs, session.batchAxes, record.maxBatch) : undefined;
    if (full) await timedRun(full);
  } catch (error) {
    // A 400 is the model refusing zeros as data (e.g. a sample rate of 0): it loads and runs, serve it.
    if (!(error instanceof HttpError) || error.status !== 400) throw error;
    log(`${what}: the warm run with zeros was refused (${error.message}); serving it unwarmed`);
  }
}
