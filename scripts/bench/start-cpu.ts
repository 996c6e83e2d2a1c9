/**
 * @module CPU per request of the stack `npm start` runs, against `npm run dev`'s (wrangler dev),
 * on this machine: each starts as a user would (scripts/start.ts, same state folder, so the
 * second also proves that state made by one serves the other), then closed loops of 8 clients
 * send `GET /v2/health/live` (the runtime's floor) and a Silero OIP JSON request (premium key),
 * and the CPU time of every server process (start.ts and all its descendants: wrangler, workerd,
 * the origin) is read from /proc before and after. Linux only.
 *
 *   node scripts/bench/start-cpu.ts [--port 8941] [--seconds 8] [--modes dev-log,dev,start,start-log]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AdminClient } from "../lib/admin-client.ts";
import { descendants, REPO_ROOT } from "../lib/wrangler-dev.ts";
import { cpuTicksOf, TICKS_PER_SECOND } from "./workerd-processes.ts";

const CONCURRENCY = 8;
const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8941" },
    seconds: { type: "string", default: "8" },
    modes: { type: "string", default: "dev-log,dev,start,start-log" },
  },
});
const port = Number(values.port);
const seconds = Number(values.seconds);
const scratch = mkdtempSync(join(tmpdir(), "hotpath-start-cpu-"));
const base = `http://127.0.0.1:${port}`;

interface Loop {
  requests: number;
  statuses: Record<string, number>;
  elapsedMs: number;
}

/** `CONCURRENCY` clients sending back to back over keep-alive sockets for `ms`. */
async function loop(
  method: "GET" | "POST",
  path: string,
  headers: (client: number) => Record<string, string>,
  body: Buffer | undefined,
  ms: number,
): Promise<Loop> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const statuses: Record<string, number> = {};
  let requests = 0;
  const started = performance.now();
  const one = (client: number) =>
    new Promise<void>((done) => {
      const req = request(`${base}${path}`, { method, headers: headers(client), agent }, (res) => {
        res.resume();
        res.on("end", () => {
          statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
          done();
        });
      });
      req.on("error", () => {
        statuses.error = (statuses.error ?? 0) + 1;
        done();
      });
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, client) => {
      while (performance.now() - started < ms) {
        await one(client);
        requests++;
      }
    }),
  );
  agent.destroy();
  return { requests, statuses, elapsedMs: performance.now() - started };
}

function serverTicks(root: number): number {
  return cpuTicksOf([root, ...descendants(root)]);
}

async function startStack(mode: string): Promise<{ child: ChildProcess; output: () => string }> {
  const args = ["--port", String(port), "--origin-port", String(port + 1), "--persist-to", join(scratch, "state")];
  args.push("--keys-file", join(scratch, "keys.json"), "--dev-vars", join(scratch, "dev.vars"));
  // "dev-log" is `npm run dev` as it runs (and the old `npm start`): wrangler dev with a log line per request.
  if (mode.startsWith("dev")) args.push("--live-reload");
  if (mode.endsWith("-log")) args.push("--log-requests");
  const child = spawn(process.execPath, [join(REPO_ROOT, "scripts/start.ts"), ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString("utf8")));
  const deadline = Date.now() + 300_000;
  while (!output.includes(`hotpath ready on ${base}`)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${mode}: no banner:\n${output.slice(-2_000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, output: () => output };
}

async function stopStack(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

const LABELS: Record<string, string> = {
  "dev-log": "wrangler dev, a log line per request (`npm run dev`; `npm start` before)",
  dev: "wrangler dev, no request log",
  start: "`npm start`: two workerd processes",
  "start-log": "`npm start -- --log-requests`",
};
const rows: string[] = [];
try {
  for (const mode of values.modes.split(",")) {
    const { child, output } = await startStack(mode);
    try {
      const { admin } = JSON.parse(readFileSync(join(scratch, "keys.json"), "utf8")) as { admin: string };
      const silero = readFileSync(join(scratch, "requests/silero-vad.json"));
      // A premium tenant per client: one tenant's rate (500 requests a second) would refuse some of the load with 429.
      const client = new AdminClient({ baseUrl: base, adminToken: admin, timeoutMs: 30_000 });
      const keys: string[] = [];
      for (let i = 0; i < CONCURRENCY; i++) {
        await client.putTenant(`cpu-premium-${i}`, "premium", ["*"]);
        keys.push((await client.createKey(`cpu-premium-${i}`)).key);
      }
      const auth = (i: number) => ({ authorization: `Bearer ${keys[i]}`, "content-type": "application/json" });
      const cases = [
        { name: "GET /v2/health/live", run: (ms: number) => loop("GET", "/v2/health/live", () => ({}), undefined, ms) },
        { name: "silero-vad OIP JSON (premium)", run: (ms: number) => loop("POST", "/v2/models/silero-vad/infer", auth, silero, ms) },
      ];
      for (const c of cases) {
        await c.run(1_500); // warm: sessions loaded, JIT settled
        const before = serverTicks(child.pid!);
        const result = await c.run(seconds * 1_000);
        const cpuMs = ((serverTicks(child.pid!) - before) * 1000) / TICKS_PER_SECOND / Math.max(1, result.requests);
        const rate = (result.requests * 1000) / result.elapsedMs;
        const label = LABELS[mode] ?? mode;
        rows.push(`| ${label} | ${c.name} | ${result.requests} | ${JSON.stringify(result.statuses)} | ${rate.toFixed(0)} | ${cpuMs.toFixed(2)} |`);
        console.log(rows.at(-1));
      }
      if (/uploading|created tenant/.test(output()) && mode !== values.modes.split(",")[0])
        console.log(`${mode}: re-registered models or tenants on the other's state`);
    } finally {
      await stopStack(child);
    }
  }
  console.log(`\n| stack | request | requests | statuses | req/s | server CPU ms per request |\n|---|---|---:|---|---:|---:|\n${rows.join("\n")}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
