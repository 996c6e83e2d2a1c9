/**
 * @module `node scripts/bench/lean-path.ts`: the CPU one Silero inference costs the server
 * processes of a local stack, above the runtime's own floor. It starts a stack as the benchmark
 * does (`wrangler dev` at log level warn, temporary state, port 8951 unless told), uploads
 * silero-vad, and sends, in alternating rounds at c=8, the speech fixture's frame as OIP JSON with
 * a premium key and `GET /v2/health/live` (the floor: what any request costs this runtime).
 * CPU time of every process of the stack comes from /proc (Linux only), wall time is not used:
 * on a machine shared with other work only CPU time compares. Medians over the rounds.
 *
 *   node scripts/bench/lean-path.ts [--rounds 5] [--requests 1000] [--via-proxy]
 *                                   [--profile .hotpath/bench/lean-path.cpuprofile]
 *
 * `--profile` then takes a V8 CPU profile of the Worker's isolate (router and ModelHost share it
 * locally) during one more Silero round and prints the top self-time functions and modules.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { descendants } from "../lib/wrangler-dev.ts";
import { sileroFrame } from "./bodies.ts";
import { inspectorTarget, profileWhile, summarizeProfile, type SelfTime } from "./cpu-profile.ts";
import { closedLoop, type RequestSpec } from "./load.ts";
import { modelFile, Stack } from "./stack.ts";
import { percentile } from "./stats.ts";
import { cpuTicks, TICKS_PER_SECOND } from "./workerd-processes.ts";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "8951" },
    rounds: { type: "string", default: "5" },
    requests: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "8" },
    "via-proxy": { type: "boolean", default: false },
    profile: { type: "string" },
    top: { type: "string", default: "25" },
  },
});

interface StackProcess {
  pid: number;
  label: string;
}

/** Every process of the stack (the launcher, wrangler's CLI, esbuild, both workerd), each labelled by what it is. */
function stackProcesses(launcherPid: number, port: number): StackProcess[] {
  return [launcherPid, ...descendants(launcherPid)].map((pid) => {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    let label = "other";
    if (/\/workerd\s+serve\b/.test(cmdline)) label = new RegExp(`entry=\\S*:${port}(\\s|$)`).test(cmdline) ? "workerd proxy" : "workerd worker";
    else if (/esbuild/.test(cmdline)) label = "esbuild";
    else if (/wrangler-dist\/cli\.js/.test(cmdline)) label = "wrangler cli (node)";
    else if (/wrangler\.js/.test(cmdline)) label = "wrangler launcher (node)";
    return { pid, label };
  });
}

/** CPU ms per request of each process over one closed loop of `count` requests, and the statuses seen. */
async function measure(processes: StackProcess[], baseUrl: string, spec: RequestSpec, count: number, concurrency: number) {
  const before = processes.map((p) => cpuTicks(p.pid));
  const run = await closedLoop({ baseUrl, concurrency, durationMs: 600_000, maxRequests: count, next: () => spec });
  const after = processes.map((p) => cpuTicks(p.pid));
  const n = run.outcomes.length;
  const bad = run.outcomes.filter((o) => o.status !== 200);
  if (bad.length > 0)
    throw new Error(`${spec.path}: ${bad.length} of ${n} answers were not 200, e.g. ${bad[0]!.status} ${bad[0]!.message ?? bad[0]!.error ?? ""}`);
  const perProcess = processes.map((_, k) => ((after[k]! - before[k]!) * 1000) / TICKS_PER_SECOND / n);
  return { perProcess, total: perProcess.reduce((a, b) => a + b, 0), wallMs: run.elapsedMs };
}

const lines = (title: string, rows: SelfTime[], top: number): string[] => [
  title,
  ...rows.slice(0, top).map((r) => `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(6)} ms  ${r.name}`),
];

const port = Number(args.port);
const rounds = Number(args.rounds);
const count = Number(args.requests);
const concurrency = Number(args.concurrency);
const stack = await Stack.start({ port, label: "lean-path" });
try {
  await stack.upload("silero-vad", "1", modelFile("silero-vad"), { maxBatch: 16, minReplicas: 1, maxReplicas: 1 });
  const [premium] = await stack.tenants("premium", 1, "lean");
  const baseUrl = args["via-proxy"] ? stack.url : await stack.entryUrl();
  const processes = stackProcesses(stack.pid, port);
  const frame = sileroFrame();
  const silero: RequestSpec = {
    path: "/v2/models/silero-vad/infer",
    body: frame.body,
    headers: { ...frame.headers, authorization: `Bearer ${premium!.key}` },
    timeoutMs: 10_000,
  };
  const live: RequestSpec = { path: "/v2/health/live", method: "GET", body: new Uint8Array(0), headers: {}, timeoutMs: 10_000 };
  console.error(
    `lean-path: ${baseUrl}${args["via-proxy"] ? " (through wrangler's proxy)" : " (the worker's own socket)"}; processes ${processes.map((p) => `${p.label} ${p.pid}`).join(", ")}`,
  );
  await measure(processes, baseUrl, silero, 300, concurrency); // warm: the session, the caches, the JIT
  await measure(processes, baseUrl, live, 300, concurrency);

  const floor: number[] = [];
  const served: number[] = [];
  const perProcess: number[][] = processes.map(() => []);
  for (let r = 0; r < rounds; r++) {
    // The order flips every round, so drift on a shared machine hits both alike.
    const order = r % 2 === 0 ? ["live", "silero"] : ["silero", "live"];
    for (const which of order) {
      const m = await measure(processes, baseUrl, which === "live" ? live : silero, count, concurrency);
      if (which === "live") floor.push(m.total);
      else {
        served.push(m.total);
        m.perProcess.forEach((v, k) => perProcess[k]!.push(v));
      }
    }
    console.error(`lean-path: round ${r + 1}/${rounds}: silero ${served.at(-1)!.toFixed(2)} ms, live ${floor.at(-1)!.toFixed(2)} ms CPU per request`);
  }
  const median = (v: number[]) => percentile(v, 0.5);
  console.log(`CPU per request, all server processes, medians of ${rounds} rounds of ${count} requests at c=${concurrency}:`);
  console.log(`  silero-vad OIP JSON (premium): ${median(served).toFixed(2)} ms   [${served.map((v) => v.toFixed(2)).join(", ")}]`);
  console.log(`  GET /v2/health/live (floor):   ${median(floor).toFixed(2)} ms   [${floor.map((v) => v.toFixed(2)).join(", ")}]`);
  console.log(`  above the floor:               ${(median(served) - median(floor)).toFixed(2)} ms`);
  console.log(`  silero by process: ${processes.map((p, k) => `${p.label} ${median(perProcess[k]!).toFixed(2)}`).join(", ")}`);

  if (args.profile) {
    const target = await inspectorTarget(stack.pid, port);
    if (!target) throw new Error("no inspector found on wrangler's proxy process");
    console.error(`lean-path: profiling '${target.title}' during ${count} Silero requests`);
    const profile = await profileWhile(target, async () => void (await measure(processes, baseUrl, silero, count, concurrency)));
    const file = resolve(args.profile);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
    const summary = summarizeProfile(profile);
    const top = Number(args.top);
    console.log(`\nCPU profile of the Worker isolate (${summary.sampledMs.toFixed(0)} ms sampled, idle left out; ${file}):`);
    console.log(lines("self time by module:", summary.modules, 15).join("\n"));
    console.log(lines("self time by function:", summary.functions, top).join("\n"));
  }
} finally {
  await stack.stop();
}
