/** @module The Hono environment: bindings plus what middleware hands to routes. */
import type { TimingVariables } from "../protocol/http/server-timing.ts";
import type { TraceVariables } from "../protocol/http/trace.ts";
import type { TenantRecord } from "./tenants/records.ts";

export interface AppEnv {
  Bindings: Env;
  Variables: TimingVariables &
    TraceVariables & {
      tenant: TenantRecord;
      /** The models a counted request's route placed (router/metrics/record.ts); unset on routes not counted. */
      placed: PlacedNote[] | undefined;
      /** What the route noted of a counted request's usage (router/metrics/usage.ts); unset on routes not counted. */
      usage: { bytesIn: number; rows: number } | undefined;
    };
}

/** A model the route resolved and placed for a counted request (router/metrics/record.ts). */
export interface PlacedNote {
  name: string;
  version: string;
  /** Where the plan sends it: a ModelHost or the origin pool; none for a model refused for its state (unloaded, nothing ready). */
  where: "edge" | "pool" | "none";
}
