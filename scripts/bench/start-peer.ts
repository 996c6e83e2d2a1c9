/**
 * @module Part 1 of the `start` scenario: hotpath's inference path on the `npm start` stack
 * against a plain Node HTTP server on onnxruntime-node (plain-functions-server.ts, its OIP JSON
 * route), the same Silero OIP JSON request (the banner's). One at a time, the two servers
 * interleaved so drift on a shared machine hits both; then closed loops of 8 clients, the
 * servers alternating, with the CPU time of every server process read from /proc around each,
 * and a loop of `GET /v2/health/live` on the same stack: the runtime's floor, which the CPU per
 * Silero request is measured above.
 */
import { cpuTicks, TICKS_PER_SECOND } from "./workerd-processes.ts";
import { closedLoop, cpuMsPerAnswer, newAgent, send, type Outcome, type RequestSpec } from "./load.ts";
import { measureRpcHop } from "./rpc-hop.ts";
import type { PlainServer } from "./plain-functions.ts";
import { jsonHeaders, type PartContext, type PartResult } from "./start-part.ts";
import { ms, percentile, ratio, table } from "./stats.ts";

const CONCURRENCY = 8;
const PATH = "/v2/models/silero-vad/infer";
export const TARGET_P50_RATIO = 4;
export const TARGET_THROUGHPUT_RATIO = 0.25;
export const TARGET_ABOVE_FLOOR_MS = 1.0;
const FLOOR_PATH = "/v2/health/live";
/** Hono -> ModelHost -> session.run and nothing else (router/routes/bench.ts; the stack runs with BENCH_ROUTES=1). */
const BARE_PATH = "/bench/bare/silero-vad/infer";

type Server = "hotpath" | "plain";

const okLatencies = (outcomes: Outcome[]) => outcomes.filter((o) => o.status === 200).map((o) => o.latencyMs);

export async function peerPart({ stack, quick, log, signal }: PartContext, plain: PlainServer): Promise<PartResult> {
  const body = stack.sileroRequest;
  // A premium tenant per client: one tenant's rate (500 a second) would refuse some of the load with 429.
  const keys = (await stack.tenants("premium", CONCURRENCY, "peer")).map((t) => t.key);
  let turn = 0;
  const spec = (server: Server): RequestSpec => ({
    path: PATH,
    body,
    headers: server === "hotpath" ? jsonHeaders(keys[turn++ % keys.length]!) : { "content-type": "application/json" },
    timeoutMs: 10_000,
    label: server,
  });
  const urls: Record<Server, string> = { hotpath: stack.url, plain: plain.url };
  const cpuMs: Record<Server, () => number> = { hotpath: () => stack.serverCpuMs(), plain: () => (cpuTicks(plain.pid) * 1000) / TICKS_PER_SECOND };

  await sameAnswers(stack.url, spec("hotpath"), { path: BARE_PATH, body, headers: { "content-type": "application/json" }, timeoutMs: 10_000 });

  const pairs = quick ? 60 : 500;
  const agents = { hotpath: newAgent(1), plain: newAgent(1) };
  const sequential: Record<Server, Outcome[]> = { hotpath: [], plain: [] };
  for (let i = 0; i < 20; i++) for (const server of ["hotpath", "plain"] as const) await send(urls[server], agents[server], spec(server)); // warm-up
  log(`start/peer: ${pairs} interleaved pairs, one request at a time`);
  for (let i = 0; i < pairs && !signal.aborted; i++) {
    for (const server of i % 2 === 0 ? (["hotpath", "plain"] as const) : (["plain", "hotpath"] as const)) {
      sequential[server].push(await send(urls[server], agents[server], spec(server)));
    }
  }
  agents.hotpath.destroy();
  agents.plain.destroy();

  const rounds = quick ? 1 : 3;
  const loopMs = quick ? 2_000 : 6_000;
  const loops: Record<Server, { rps: number; cpuMsPerRequest: number; failed: number }[]> = { hotpath: [], plain: [] };
  const floorCpu: number[] = [];
  const bareCpu: number[] = [];
  for (let round = 0; round < rounds && !signal.aborted; round++) {
    for (const server of round % 2 === 0 ? (["hotpath", "plain"] as const) : (["plain", "hotpath"] as const)) {
      const cpuBefore = cpuMs[server]();
      const run = await closedLoop({
        signal,
        baseUrl: urls[server],
        concurrency: CONCURRENCY,
        durationMs: loopMs,
        maxRequests: 200_000,
        next: () => spec(server),
      });
      const cpu = cpuMs[server]() - cpuBefore;
      const ok = run.outcomes.filter((o) => o.status === 200).length;
      loops[server].push({ rps: ok / (run.elapsedMs / 1000), cpuMsPerRequest: cpu / Math.max(1, run.outcomes.length), failed: run.outcomes.length - ok });
      log(
        `start/peer: ${server} at c=${CONCURRENCY}: ${loops[server].at(-1)!.rps.toFixed(0)} req/s, ${loops[server].at(-1)!.cpuMsPerRequest.toFixed(2)} CPU ms per request`,
      );
    }
    const baseline = { signal, baseUrl: stack.url, concurrency: CONCURRENCY, durationMs: loopMs, maxRequests: 400_000, cpuMs: () => stack.serverCpuMs() };
    const floor: RequestSpec = { path: FLOOR_PATH, method: "GET", body: new Uint8Array(0), headers: {}, timeoutMs: 10_000, label: FLOOR_PATH };
    floorCpu.push(await cpuMsPerAnswer({ ...baseline, next: () => floor }));
    log(`start/peer: GET ${FLOOR_PATH} at c=${CONCURRENCY}: ${floorCpu.at(-1)!.toFixed(2)} CPU ms per request (the runtime's floor)`);
    const bare: RequestSpec = { path: BARE_PATH, body, headers: { "content-type": "application/json" }, timeoutMs: 10_000, label: BARE_PATH };
    bareCpu.push(await cpuMsPerAnswer({ ...baseline, next: () => bare }));
    log(`start/peer: POST ${BARE_PATH} at c=${CONCURRENCY}: ${bareCpu.at(-1)!.toFixed(2)} CPU ms per request (the bare path)`);
  }

  log("start/peer: one empty call to a Durable Object, across two workerd processes and within one (the local hop)");
  const hop = await measureRpcHop(rounds, quick ? 1_000 : 3_000, signal);

  const summary = (server: Server) => {
    const latencies = okLatencies(sequential[server]);
    const timing = (name: string) =>
      percentile(
        sequential[server].flatMap((o) => (o.server?.[name] === undefined ? [] : [o.server[name]!])),
        0.5,
      );
    return {
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      failedSequential: sequential[server].length - latencies.length,
      rps: percentile(
        loops[server].map((l) => l.rps),
        0.5,
      ),
      cpuMsPerRequest: percentile(
        loops[server].map((l) => l.cpuMsPerRequest),
        0.5,
      ),
      failedLoops: loops[server].reduce((sum, l) => sum + l.failed, 0),
      serverTiming:
        server === "hotpath"
          ? { auth: timing("auth"), host: timing("host"), queue: timing("queue"), infer: timing("infer"), total: timing("total") }
          : undefined,
    };
  };
  const h = summary("hotpath");
  const p = summary("plain");
  const p50Ratio = h.p50 / p.p50;
  const floorMs = percentile(floorCpu, 0.5);
  const aboveFloorMs = h.cpuMsPerRequest - floorMs;
  const bareAboveFloorMs = percentile(bareCpu, 0.5) - floorMs;
  const rpsRatio = h.rps / p.rps;
  const row = (name: string, s: typeof h) => [
    name,
    ms(s.p50, 2),
    ms(s.p99, 2),
    s.rps.toFixed(0),
    ms(s.cpuMsPerRequest, 2),
    String(s.failedSequential + s.failedLoops),
  ];
  const details = [
    table(
      ["server", "c=1 p50 ms", "c=1 p99 ms", `c=${CONCURRENCY} req/s`, "CPU ms per request (all server processes)", "failed"],
      [
        row("hotpath (`npm start`, premium key)", h),
        row(`plain Node + onnxruntime-node (${plain.banner.replace(/^listening on \S+; /, "")})`, p),
        ["**ratio hotpath / plain**", ratio(p50Ratio), ratio(h.p99 / p.p99), ratio(rpsRatio), ratio(h.cpuMsPerRequest / p.cpuMsPerRequest), ""],
      ],
    ),
    "",
    `hotpath's Server-Timing at c=1, p50 ms: auth ${ms(h.serverTiming!.auth, 2)}, host ${ms(h.serverTiming!.host, 2)}, queue ${ms(h.serverTiming!.queue, 2)}, ` +
      `infer ${ms(h.serverTiming!.infer, 2)}, total ${ms(h.serverTiming!.total, 2)} (the router's own view; the rest of the client's p50 is outside the router).`,
    "",
    `\`GET ${FLOOR_PATH}\` on the same stack (what any request costs this runtime): ${ms(floorMs, 2)} CPU ms per request; Silero's ` +
      `${ms(h.cpuMsPerRequest, 2)} is ${ms(aboveFloorMs, 2)} above it (onnxruntime-web's own run of the frame included). ` +
      `The bare path on the same stack (\`POST ${BARE_PATH}\`: Hono, the JSON parse, one call to the ModelHost, \`session.run\`, the JSON answer; no auth, limits, ` +
      `queue, batching, timing, metrics or traces; its answers checked equal to the full path's first) costs ${ms(bareAboveFloorMs, 2)} above the floor: ` +
      `what the platform adds to it is ${ms(aboveFloorMs - bareAboveFloorMs, 2)} ms.`,
    "",
    `The local hop (rpc-hop.ts: two bare Workers, CPU above their own floor for one empty Durable Object call): ${ms(hop.callMs["two processes"], 3)} ms ` +
      `with the object in a second workerd process joined by Miniflare's dev registry, as \`npm start\` runs the ModelHosts, ${ms(hop.callMs["one process"], 3)} ms ` +
      `within one process. The difference, ${ms(hop.localHopMs, 3)} ms per call, is Miniflare's proxy and the second crossing; deployed, a Durable Object call ` +
      `has neither, so the same request would cost about ${ms(aboveFloorMs - hop.localHopMs, 2)} ms above the floor without them (an estimate: the target is judged on the measured figure).`,
  ].join("\n");
  return {
    title: "Plain peer: the same Silero OIP JSON request against a plain Node server on onnxruntime-node",
    method:
      `${pairs} requests to each server one at a time, interleaved; then ${rounds} round(s) of ${loopMs / 1000} s of ${CONCURRENCY} closed-loop clients per server, alternating, ` +
      `throughput and CPU the median over rounds. CPU per request is the CPU time of every server process (hotpath: start.ts, both workerd processes and the idle origin; ` +
      `plain: its one process) over the loop, divided by the requests sent. The plain server runs onnxruntime-node with one intra-op thread, as a ModelHost runs its wasm on one thread.`,
    details,
    targets: [
      {
        what: "c=1 p50, hotpath / plain",
        measured: `${ratio(p50Ratio)}x (${ms(h.p50, 2)} / ${ms(p.p50, 2)} ms)`,
        target: `<= ${TARGET_P50_RATIO}x`,
        met: p50Ratio <= TARGET_P50_RATIO,
      },
      {
        what: `c=${CONCURRENCY} throughput, hotpath / plain`,
        measured: `${ratio(rpsRatio)}x (${h.rps.toFixed(0)} / ${p.rps.toFixed(0)} req/s)`,
        target: `>= ${TARGET_THROUGHPUT_RATIO}x`,
        met: rpsRatio >= TARGET_THROUGHPUT_RATIO,
      },
      {
        what: `CPU per Silero request above \`GET ${FLOOR_PATH}\`, c=${CONCURRENCY}`,
        measured: `${ms(aboveFloorMs, 2)} ms (${ms(h.cpuMsPerRequest, 2)} - ${ms(floorMs, 2)}; the bare path ${ms(bareAboveFloorMs, 2)}; of each the local hop ${ms(hop.localHopMs, 2)})`,
        target: `<= ${TARGET_ABOVE_FLOOR_MS} ms`,
        met: aboveFloorMs <= TARGET_ABOVE_FLOOR_MS,
      },
    ],
    data: {
      pairs,
      rounds,
      loopMs,
      concurrency: CONCURRENCY,
      hotpath: { ...h, loops: loops.hotpath },
      plain: { ...p, loops: loops.plain },
      floor: { cpuMsPerRequest: floorMs, rounds: floorCpu },
      bare: { aboveFloorMs: bareAboveFloorMs, rounds: bareCpu },
      p50Ratio,
      rpsRatio,
      aboveFloorMs,
      hop,
    },
  };
}

/** Throws unless the two paths answer one request with the same outputs: a baseline that computes something else measures nothing. */
async function sameAnswers(baseUrl: string, full: RequestSpec, bare: RequestSpec): Promise<void> {
  const answer = async (spec: RequestSpec) => {
    const response = await fetch(`${baseUrl}${spec.path}`, {
      method: "POST",
      body: spec.body,
      headers: spec.headers,
      signal: AbortSignal.timeout(spec.timeoutMs),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`start/peer: ${spec.path} answered ${response.status}: ${text.slice(0, 300)}`);
    return JSON.stringify((JSON.parse(text) as { outputs: unknown }).outputs);
  };
  if ((await answer(full)) !== (await answer(bare))) throw new Error(`start/peer: ${bare.path} answers other outputs than ${full.path}`);
}
