/**
 * @module Internal routes between the edge and its origin pool take only the shared origin
 * token (a Worker secret, the same one the origins are started with), never a tenant key or the
 * admin token.
 */
import { secretAuth } from "../../protocol/http/bearer-auth.ts";
import type { AppEnv } from "../app-env.ts";

export const originAuth = secretAuth({
  name: "origin token",
  secret: (c) => (c.env as AppEnv["Bindings"]).ORIGIN_TOKEN,
  disabledMessage: "internal routes are disabled: no ORIGIN_TOKEN secret is set",
});
