/**
 * @module The options every command shares (`--url`, `--admin-token`, `--json`) and the admin
 * client they make. Without flags or environment it finds the local stack by itself: the URL
 * `npm start` serves on and the admin token it wrote to .hotpath/demo-keys.json.
 */
import type { Command } from "commander";
import { join } from "node:path";
import { AdminClient, resolveAdminToken, resolveBaseUrl } from "../lib/admin-client.ts";
import { REPO_ROOT } from "../lib/wrangler-dev.ts";
import { CliError } from "./errors.ts";

export const DEMO_KEYS_FILE = join(REPO_ROOT, ".hotpath/demo-keys.json");
/** An upload waits this long without progress (the server proves the model loads after the last byte). */
const UPLOAD_IDLE_TIMEOUT_MS = 120_000;

export interface GlobalOptions {
  url?: string;
  adminToken?: string;
  json?: boolean;
}

export interface CommandContext {
  url: string;
  json: boolean;
  client: AdminClient;
}

/** The base URL the command talks to, checked to be an http(s) URL; also used to word failures. */
export function baseUrlOf(options: GlobalOptions): string {
  const url = resolveBaseUrl(options.url).replace(/\/+$/, "");
  if (!URL.canParse(url) || !["http:", "https:"].includes(new URL(url).protocol)) {
    throw new CliError(`'${url}' is not an http:// or https:// URL (--url or HOTPATH_URL)`);
  }
  return url;
}

/** The context of the command being run: its own and the program's options merged; `timeoutMs` bounds each request without progress. */
export function contextOf(command: Command, timeoutMs = UPLOAD_IDLE_TIMEOUT_MS): CommandContext {
  const options = command.optsWithGlobals<GlobalOptions>();
  const url = baseUrlOf(options);
  let adminToken: string;
  try {
    adminToken = resolveAdminToken(options.adminToken, DEMO_KEYS_FILE);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  return { url, json: options.json === true, client: new AdminClient({ baseUrl: url, adminToken, timeoutMs }) };
}
