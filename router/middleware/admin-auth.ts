/** @module Admin routes take only the admin token (a Worker secret), never a tenant key. */
import { HttpError } from "../../protocol/errors.ts";
import { secretAuth } from "../../protocol/http/bearer-auth.ts";
import type { AppEnv } from "../app-env.ts";
import { tenantForKey } from "../tenants/store.ts";

export const adminAuth = secretAuth({
  name: "admin token",
  secret: (c) => (c.env as AppEnv["Bindings"]).ADMIN_TOKEN,
  disabledMessage: "the admin API is disabled: no ADMIN_TOKEN secret is set",
  // A valid tenant key is a known caller without the right (403); anything else is a bad token.
  onMismatch: async (c, token) =>
    (await tenantForKey((c.env as AppEnv["Bindings"]).KEYS, token))
      ? new HttpError(403, "tenant keys cannot use admin routes")
      : new HttpError(401, "invalid admin token"),
});
