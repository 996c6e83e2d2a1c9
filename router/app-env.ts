/** @module The Hono environment: bindings plus what middleware hands to routes. */
import type { TimingVariables } from "../protocol/http/server-timing.ts";
import type { TenantRecord } from "./tenants/records.ts";

export interface AppEnv {
  Bindings: Env;
  Variables: TimingVariables & {
    tenant: TenantRecord;
  };
}
