/** @module The Hono environment: bindings plus what middleware hands to routes. */
import type { ServerTiming } from "../protocol/http/server-timing.ts";
import type { TenantRecord } from "./tenants/records.ts";

export interface AppEnv {
  Bindings: Env;
  Variables: {
    tenant: TenantRecord;
    timing: ServerTiming;
  };
}
