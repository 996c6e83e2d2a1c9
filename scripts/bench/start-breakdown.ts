/**
 * @module The `start` scenario's breakdown, run after the plain peer: where a Silero request's CPU goes on the `npm start`
 * stack, stage by stage and process by process. The bare path (router/routes/bench.ts) is cut
 * short at each stage: the floor (`GET /v2/health/live`), the body read and parsed with the
 * model's record (`/bench/parse`), one call to the ModelHost that runs nothing (`?runs=0`), the
 * whole bare path (`?runs=1`), and a second run in the same call (`?runs=2`). Each stage's CPU
 * per answered request is read from /proc for the router's process (with start.ts and the idle
 * origin) and the ModelHosts' process apart; a stage's cost is its difference from the one before.
 */
import { closedLoop, cpuMsPerAnswerBy, type RequestSpec } from "./load.ts";
import { breakdownChart } from "./start-charts.ts";
import type { PartContext, PartResult } from "./start-part.ts";
import { ms, percentile, table } from "./stats.ts";

const CONCURRENCY = 8;
const MODEL = "silero-vad";

interface Stage {
  name: string;
  /** What the stage adds to the one before it. */
  adds: string;
  path: string;
}

const STAGES: Stage[] = [
  { name: "floor", adds: "`GET /v2/health/live`: what any request costs this runtime", path: "/v2/health/live" },
  { name: "parse", adds: "the body read and parsed (OIP JSON), the model's record from the catalog", path: `/bench/parse/${MODEL}` },
  {
    name: "call",
    adds: "one call to the ModelHost in its own process, which runs nothing (Miniflare's local hop included)",
    path: `/bench/bare/${MODEL}/infer?runs=0`,
  },
  { name: "run", adds: "`session.run` in workerd, its outputs back to the router and the JSON answer encoded", path: `/bench/bare/${MODEL}/infer?runs=1` },
  { name: "second run", adds: "a second `session.run` of the same frame in the same call: a run's own cost", path: `/bench/bare/${MODEL}/infer?runs=2` },
];

type PerProcess = { router: number; host: number };

export async function breakdownPart({ stack, quick, log, signal }: PartContext): Promise<PartResult> {
  const rounds = quick ? 1 : 3;
  const loopMs = quick ? 1_500 : 4_000;
  const cpuMs = { host: () => stack.hostCpuMs(), all: () => stack.serverCpuMs() };
  const measured = new Map<string, PerProcess[]>(STAGES.map((s) => [s.name, []]));
  const specOf = (stage: Stage): RequestSpec => ({
    path: stage.path,
    method: stage.name === "floor" ? "GET" : "POST",
    body: stage.name === "floor" ? new Uint8Array(0) : stack.sileroRequest,
    headers: { "content-type": "application/json" },
    timeoutMs: 10_000,
    label: stage.path,
  });
  // Every stage's code compiled and the session's first runs behind it before anything is counted.
  for (const stage of STAGES) await closedLoop({ signal, baseUrl: stack.url, concurrency: CONCURRENCY, durationMs: 500, next: () => specOf(stage) });
  for (let round = 0; round < rounds && !signal.aborted; round++) {
    for (const stage of STAGES) {
      const spec = specOf(stage);
      const cpu = await cpuMsPerAnswerBy({
        signal,
        baseUrl: stack.url,
        concurrency: CONCURRENCY,
        durationMs: loopMs,
        maxRequests: 400_000,
        next: () => spec,
        cpuMs,
      });
      measured.get(stage.name)!.push({ router: cpu.all - cpu.host, host: cpu.host });
      log(`start/breakdown: ${stage.name} (${stage.path}): router ${(cpu.all - cpu.host).toFixed(3)} ms, host ${cpu.host.toFixed(3)} ms`);
    }
  }
  const median = (name: string): PerProcess => {
    const list = measured.get(name)!;
    return {
      router: percentile(
        list.map((m) => m.router),
        0.5,
      ),
      host: percentile(
        list.map((m) => m.host),
        0.5,
      ),
    };
  };
  const rows = STAGES.map((stage, i) => {
    const here = median(stage.name);
    const before = i === 0 ? { router: 0, host: 0 } : median(STAGES[i - 1]!.name);
    return { stage, total: here, adds: { router: here.router - before.router, host: here.host - before.host } };
  });
  const byName = Object.fromEntries(rows.map((r) => [r.stage.name, r]));
  const firstRunExtraMs = byName.run!.adds.host - byName["second run"]!.adds.host;
  const details = [
    table(
      ["stage", "what it adds", "router ms", "ModelHost ms", "adds, router", "adds, ModelHost", "adds, both"],
      rows.map((r) => [
        r.stage.name,
        r.stage.adds,
        ms(r.total.router, 3),
        ms(r.total.host, 3),
        ms(r.adds.router, 3),
        ms(r.adds.host, 3),
        ms(r.adds.router + r.adds.host, 3),
      ]),
      ["l", "l", "r", "r", "r", "r", "r"],
    ),
    "",
    `Above the floor, the bare path's ${ms(byName.run!.total.router + byName.run!.total.host - byName.floor!.total.router, 2)} ms is: the parse ` +
      `${ms(byName.parse!.adds.router, 2)}, the call ${ms(byName.call!.adds.router + byName.call!.adds.host, 2)} (the router's side ${ms(byName.call!.adds.router, 2)}), ` +
      `and the run with its answer ${ms(byName.run!.adds.router + byName.run!.adds.host, 2)}, of which \`session.run\` itself about ${ms(byName["second run"]!.adds.host, 2)} ` +
      `(a second run in the same call) and ${ms(firstRunExtraMs, 2)} more for the first run of a call.`,
  ].join("\n");
  return {
    title: "Where a Silero request's CPU goes: the bare path stage by stage, process by process",
    method:
      `Each stage is the bare path cut short (router/routes/bench.ts, on with BENCH_ROUTES=1), sent as the banner's Silero request without a key by ${CONCURRENCY} ` +
      `closed-loop clients for ${loopMs / 1000} s; ${rounds} round(s) of all stages in turn, medians. CPU per answered request from /proc: the ModelHosts' ` +
      `workerd process, and the router's (with start.ts and the idle origin). No targets: this says which of the costs above the floor are the platform's code and which the runtime's.`,
    details,
    targets: [],
    charts: { "start-breakdown.svg": breakdownChart(rows.map((r) => ({ stage: r.stage.name, router: r.adds.router, host: r.adds.host }))) },
    data: { rounds, loopMs, concurrency: CONCURRENCY, stages: Object.fromEntries(measured), rows, firstRunExtraMs },
  };
}
