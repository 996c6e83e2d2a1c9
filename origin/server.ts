/**
 * @module The origin server's entry point:
 * `ORIGIN_TOKEN=... node origin/server.ts --port 8788 --edge http://127.0.0.1:8787 --models mlp-heavy@1 [--ep webgpu]`.
 * Listens at once (live), reports ready when every assigned model is warm, and stops cleanly on
 * SIGINT/SIGTERM (requests in flight finish first). Exits 2 on a bad command line, 1 when it
 * cannot start or loses its inference worker.
 */
import { serve } from "@hono/node-server";
import { HttpError } from "../protocol/errors.ts";
import { allIdleWithin } from "../scheduler/in-flight.ts";
import { parseConfig, USAGE, type OriginConfig } from "./config.ts";
import { createOrigin, type Origin } from "./origin.ts";

let config: OriginConfig;
try {
  config = parseConfig(process.argv.slice(2), process.env);
} catch (error) {
  // A 400 is the command line's mistake: say what, and how to call it.
  if (!(error instanceof HttpError) || error.status !== 400) throw error;
  console.error(`origin: ${error.message}\n${USAGE}`);
  process.exit(2);
}
const log = (line: string) => console.log(`[origin ${config.id}] ${line}`);

let origin: Origin;
try {
  origin = await createOrigin(config, log, (reason) => {
    // Without its worker the origin cannot run anything; exiting lets a supervisor restart it
    // (from the disk cache) and the edge's health checks notice at once.
    log(`${reason}; exiting`);
    process.exit(1);
  });
} catch (error) {
  console.error(`[origin ${config.id}] cannot start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
const { provider, store } = origin;

const server = serve({ fetch: origin.app.fetch, hostname: config.host, port: config.port }, (info) => {
  const fallback = provider.fallbackReason ? ` (fell back from ${config.ep})` : "";
  log(
    `listening on http://${info.address}:${info.port}; ep ${provider.ep}${fallback}; batching ${config.batching ? "on" : "off"}; models ${config.models.map((m) => `${m.name}@${m.version}`).join(", ") || "none yet"}`,
  );
});
server.on("error", (error: Error) => {
  console.error(`[origin ${config.id}] cannot listen on ${config.host}:${config.port}: ${error.message}`);
  process.exit(1);
});
store.assign(config.models);

let stopping = false;
/** Stops taking connections, lets the requests in flight finish (bounded), then exits. */
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log(`${signal}: draining`);
  // Bounded: a stuck connection or run must not keep a stopping origin alive.
  setTimeout(() => process.exit(0), 4_000).unref();
  server.close();
  if ("closeIdleConnections" in server) server.closeIdleConnections();
  await allIdleWithin(
    store.entries().map((e) => e.requests),
    3_000,
  );
  if ("closeAllConnections" in server) server.closeAllConnections();
  await origin.close();
  process.exit(0);
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
