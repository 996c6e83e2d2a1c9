/** @module What the origin's routes share: the context made once at start, and the Hono env. */
import type { TimingVariables } from "../protocol/http/server-timing.ts";
import type { TraceVariables } from "../protocol/http/trace.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { OriginConfig } from "./config.ts";
import type { ProviderChoice } from "./execution-provider.ts";
import type { ModelStore } from "./model-store.ts";

/** Everything a route may need, made once at start (origin.ts). */
export interface OriginContext {
  config: OriginConfig;
  provider: ProviderChoice;
  store: ModelStore;
  scheduler: Scheduler;
  startedAt: number;
}

export interface OriginEnv {
  Variables: TimingVariables & TraceVariables;
}
