/**
 * @module `npm start`: the local hotpath stack with demo models, tenants and keys, in the
 * foreground until Ctrl-C. By default the edge runs in its production shape (the deploy bundle,
 * the router and the ModelHosts in two workerd processes: scripts/lib/miniflare-edge.ts);
 * `--live-reload` (`npm run dev`) runs `wrangler dev` instead, which rebuilds on every change.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { prepareModels } from "./prepare-models.ts";
import { TIER_NAMES } from "../config/tiers.ts";
import { AdminApiError, AdminClient } from "./lib/admin-client.ts";
import { registerMissingModels, warmEdgeModels, warmVariants } from "./lib/demo-models.ts";
import { banner, shown, type DemoKeys } from "./lib/banner.ts";
import { startMiniflareEdge } from "./lib/miniflare-edge.ts";
import { REPO_ROOT, startWranglerDev } from "./lib/wrangler-dev.ts";
import { launchOrigin, waitListening, type LaunchedOrigin } from "../origin/launch.ts";

/** Checked with each stored demo key: 200 means the key still authenticates against this state. */
const PROBE_MODEL = "mlp-tiny";
/**
 * Locally every ModelHost replica of a model runs on the one host process's thread, so a second
 * replica adds contention, not capacity: replica sets stay at one (deployed, each has its own).
 */
const LOCAL_VARS = { MAX_REPLICAS_PER_REGION: "1" };
/** The request log line (LOG_REQUESTS, on in wrangler.toml for deployed Workers) only with --log-requests: locally each costs the router's thread a call into Node. */
const localVars = (options: Options) => ({ ...LOCAL_VARS, LOG_REQUESTS: options.logRequests ? "1" : "0" });

interface Options {
  host: string;
  port: number;
  /** Port of the local origin server; 0 runs no origin (origin-placed models are then skipped). */
  originPort: number;
  persistTo: string;
  keysFile: string;
  devVars: string;
  /** `wrangler dev` (rebuilds on change, one workerd thread for everything) instead of the production shape. */
  liveReload: boolean;
  /** A log line per request (off by default: it costs the router's thread a call to Node per request). */
  logRequests: boolean;
  /** DevTools inspectors on the router's and the ModelHosts' workerd, on these ports (CPU profiles of each thread). */
  inspect: { router?: number; host?: number };
}

const USAGE = `usage: npm start -- [--port 8787] [--origin-port 8788 (0: no origin)] [--host 127.0.0.1] [--persist-to .wrangler/state]
                    [--keys-file .hotpath/demo-keys.json] [--dev-vars .dev.vars] [--log-requests] [--live-reload]
                    [--inspect-router <port>] [--inspect-host <port>] (DevTools inspectors on each workerd process)
--dev-vars other than <repo>/.dev.vars is read instead of it (as wrangler's --env-file), and <repo>/.dev.vars
is then not read: tests use it to run a second stack with its own admin token.
--log-requests prints a line per request (it costs the router's thread a call to Node per request).
--live-reload (npm run dev) runs wrangler dev: rebuilt on every change, router and ModelHosts on one thread.`;

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8787" },
      "origin-port": { type: "string", default: "8788" },
      host: { type: "string", default: "127.0.0.1" },
      "persist-to": { type: "string", default: join(REPO_ROOT, ".wrangler/state") },
      "keys-file": { type: "string", default: join(REPO_ROOT, ".hotpath/demo-keys.json") },
      "dev-vars": { type: "string", default: join(REPO_ROOT, ".dev.vars") },
      "log-requests": { type: "boolean", default: false },
      "live-reload": { type: "boolean", default: false },
      "inspect-router": { type: "string" },
      "inspect-host": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port must be a TCP port, got '${values.port}'`);
  const originPort = Number(values["origin-port"]);
  if (!Number.isInteger(originPort) || originPort < 0 || originPort > 65535)
    throw new Error(`--origin-port must be a TCP port or 0, got '${values["origin-port"]}'`);
  return {
    host: values.host,
    port,
    originPort,
    persistTo: resolve(values["persist-to"]),
    keysFile: resolve(values["keys-file"]),
    devVars: resolve(values["dev-vars"]),
    liveReload: values["live-reload"],
    logRequests: values["log-requests"],
    inspect: { router: optionalPort(values["inspect-router"], "--inspect-router"), host: optionalPort(values["inspect-host"], "--inspect-host") },
  };
}

function optionalPort(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${flag} must be a TCP port, got '${value}'`);
  return port;
}

function randomToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString("base64url")}`;
}

/** Writes only on change so a restart leaves the file (and its mtime) alone; secrets are 0600. */
function writeSecretFile(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600); // mode above applies only when the file is created
}

function readKeys(path: string): Partial<DemoKeys> {
  if (!existsSync(path)) return {};
  const parsed = JSON.parse(readFileSync(path, "utf8")) as unknown;
  if (typeof parsed !== "object" || parsed === null) throw new Error(`${path} is not a JSON object`);
  return parsed as Partial<DemoKeys>;
}

function keysText(keys: DemoKeys): string {
  const ordered = { admin: keys.admin, free: keys.free, standard: keys.standard, premium: keys.premium };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

const varLine = (name: string) => new RegExp(`^\\s*(?:export\\s+)?${name}\\s*=\\s*(.*)$`);

function devVar(text: string, name: string): string | undefined {
  for (const line of text.split("\n")) {
    const value = line
      .match(varLine(name))?.[1]
      ?.trim()
      .replace(/^(["'])(.*)\1$/, "$2");
    if (value) return value;
  }
  return undefined;
}

/** Sets NAME=value in a .dev.vars-style file, keeping every other line as it was. */
function withVar(text: string, name: string, value: string): string {
  const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
  const at = lines.findIndex((line) => varLine(name).test(line));
  if (at >= 0) lines[at] = `${name}=${value}`;
  else lines.push(`${name}=${value}`);
  return `${lines.join("\n")}\n`;
}

/**
 * The admin token, generated once: the keys file's, else one already in .dev.vars (adopted so
 * a hand-set token keeps working), else a new random one. Both files end up agreeing.
 */
function ensureSecrets(options: Options): { keys: DemoKeys; originToken: string } {
  const stored = readKeys(options.keysFile);
  let devVars = existsSync(options.devVars) ? readFileSync(options.devVars, "utf8") : "";
  const admin = stored.admin ?? devVar(devVars, "ADMIN_TOKEN") ?? randomToken("hpadmin_");
  const keys: DemoKeys = { ...stored, admin };
  // The edge and its local origin share this secret; it never leaves .dev.vars and the origin's environment.
  const originToken = devVar(devVars, "ORIGIN_TOKEN") ?? randomToken("hporigin_");
  // The edge refuses http:// origins off loopback (the token would travel in clear): an origin
  // listening on every interface is reached through 127.0.0.1, as it is on this machine.
  const originHost = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  const origins = options.originPort > 0 ? [{ id: "local", url: `http://${originHost}:${options.originPort}` }] : [];
  devVars = withVar(withVar(withVar(devVars, "ADMIN_TOKEN", admin), "ORIGIN_TOKEN", originToken), "ORIGINS", JSON.stringify(origins));
  // Saved before wrangler starts: a failed start must not lose the admin token.
  writeSecretFile(options.keysFile, keysText(keys));
  writeSecretFile(options.devVars, devVars);
  return { keys, originToken };
}

/** Keeps each stored tenant key that still authenticates; makes tenant and key otherwise. */
async function ensureDemoTenants(client: AdminClient, keys: DemoKeys): Promise<DemoKeys> {
  const result: DemoKeys = { ...keys };
  for (const tier of TIER_NAMES) {
    const stored = keys[tier];
    if (stored) {
      const status = await client.keyStatus(stored, PROBE_MODEL);
      if (status === 200) continue;
      if (status !== 401 && status !== 403) throw new AdminApiError(status, `checking the stored ${tier} key on ${PROBE_MODEL}`);
    }
    const tenant = `demo-${tier}`;
    await client.putTenant(tenant, tier, ["*"]);
    const created = await client.createKey(tenant);
    result[tier] = created.key;
    console.log(`created tenant ${tenant} (${tier}) with key id ${created.keyId}`);
  }
  return result;
}

/** Ctrl-C or SIGTERM; a second one exits at once. */
const shutdown = new AbortController();
const shutdownRequested = new Promise<void>((r) => shutdown.signal.addEventListener("abort", () => r(), { once: true }));
const onSignal = (signal: string) => {
  if (shutdown.signal.aborted) {
    console.error(`second ${signal}: exiting without waiting for wrangler`);
    process.exit(130);
  }
  console.log(`\n${signal}: stopping hotpath`);
  shutdown.abort();
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
process.on("SIGHUP", onSignal); // the terminal went away
// npm 11 does not pass SIGTERM on to `npm start`'s child: it exits and leaves us orphaned.
// A new parent means whoever started us is gone, so stop instead of holding the port forever.
const parentAtStart = process.ppid;
setInterval(() => {
  if (process.ppid !== parentAtStart && !shutdown.signal.aborted) onSignal("parent process gone");
}, 1_000).unref();

interface LocalEdge {
  url: string;
  exited: Promise<number | null>;
  recentOutput(): string;
  stop(): Promise<void>;
}

/** The edge: the production shape by default, `wrangler dev` with --live-reload. */
async function startEdge(options: Options, onLine: (line: string) => void): Promise<LocalEdge> {
  const common = { host: options.host, port: options.port, persistTo: options.persistTo, signal: shutdown.signal };
  if (!options.liveReload) {
    console.log(`starting the edge on ${options.host}:${options.port}: router and ModelHosts in two workerd processes (state in ${shown(options.persistTo)})`);
    return startMiniflareEdge({
      ...common,
      devVars: options.devVars,
      vars: localVars(options),
      logRequests: options.logRequests,
      inspectorPorts: options.inspect,
      onLine,
    });
  }
  console.log(`starting wrangler dev on ${options.host}:${options.port} (state in ${shown(options.persistTo)})`);
  const useEnvFile = resolve(options.devVars) !== resolve(REPO_ROOT, ".dev.vars");
  return startWranglerDev({
    ...common,
    envFile: useEnvFile ? options.devVars : undefined,
    vars: localVars(options),
    logLevel: options.logRequests ? "log" : "warn",
    onLine: (line) => onLine(`wrangler | ${line}`),
  });
}

async function main(): Promise<number> {
  const options = parseOptions();
  const prepared = prepareModels();
  // Without an origin there is nowhere to run origin-placed models: leave them out.
  const manifest = options.originPort > 0 ? prepared : prepared.filter((m) => m.placement !== "origin");
  const secrets = ensureSecrets(options);
  let keys = secrets.keys;
  let ready = false;
  const edge = await startEdge(options, (line) => {
    // Once ready, the edge's own output (request lines with --log-requests, warnings, errors) is the useful part.
    if (ready && line.trim()) console.log(line);
  });
  // A signal during setup stops the edge at once; the pending admin call then fails fast.
  void shutdownRequested.then(() => edge.stop());

  let origin: LaunchedOrigin | undefined;
  try {
    if (options.originPort > 0) {
      console.log(`starting the local origin on ${options.host}:${options.originPort} (cpu)`);
      origin = await launchOrigin({
        port: options.originPort,
        host: options.host,
        edge: edge.url,
        token: secrets.originToken,
        models: manifest.filter((m) => m.placement === "origin").map((m) => `${m.name}@${m.version}`),
        cacheDir: join(dirname(options.keysFile), "origin-cache"),
        args: ["--id", "local"],
        readyTimeoutMs: 0,
        onLine: (line) => {
          if (ready && line.trim()) console.log(`origin   | ${line}`);
        },
      });
      // Listening, on this port (its models may still load: the edge asks it to, on upload).
      await waitListening(origin, 30_000);
    }
    const client = new AdminClient({ baseUrl: edge.url, adminToken: keys.admin, timeoutMs: 300_000 });
    await registerMissingModels(client, manifest);
    await warmEdgeModels(client, manifest);
    keys = await ensureDemoTenants(client, keys);
    writeSecretFile(options.keysFile, keysText(keys));
    if (keys.premium) await warmVariants(edge.url, keys.premium, manifest);
    const runtime = options.liveReload
      ? "wrangler dev (live reload; router and ModelHosts on one workerd thread)"
      : `router and ModelHosts in two workerd processes, the deploy bundle${options.logRequests ? "" : "; --log-requests for a line per request"}`;
    console.log(banner(edge.url, { ...options, runtime }, keys, manifest));
    ready = true;

    const ended = await Promise.race([shutdownRequested.then(() => "signal" as const), edge.exited.then(() => "exited" as const)]);
    if (ended === "exited" && !shutdown.signal.aborted) {
      console.error(`wrangler dev exited unexpectedly; its last output:\n${edge.recentOutput()}`);
      return 1;
    }
    return 0;
  } finally {
    await origin?.stop();
    await edge.stop();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  if (shutdown.signal.aborted) {
    process.exitCode = 0; // stopped on purpose while starting up; the failure is a consequence
  } else {
    if (error instanceof AdminApiError && error.status === 401) {
      console.error("the admin token was refused: is another stack on this port, or was .dev.vars changed by hand?");
    }
    console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
