/**
 * @module Part 5 of the `start` scenario: cold starts on the `npm start` stack. A new replica
 * ready: replica N of silero-vad warmed as the replica set warms one before it takes traffic (a
 * new object each time: the session brought up from R2 in it), timed at the client. A version
 * reloaded: unloaded (its session freed on its host, checked) and loaded again through the
 * model_repository API, which warms the host before it answers, then its first request. The first
 * request in a fresh isolate: start.ts stopped and started again on the same state (new workerd
 * processes, so new isolates and no session), then the first Silero request.
 */
import { modelFile } from "./stack.ts";
import { newAgent, send, type Outcome, type RequestSpec } from "./load.ts";
import { jsonHeaders, type PartContext, type PartResult } from "./start-part.ts";
import { ms, percentile, table } from "./stats.ts";

const COLD_MODEL = "silero-vad-cold";
export const TARGET_REPLICA_READY_MS = 50;
export const TARGET_FRESH_ISOLATE_MS = 200;

interface ColdSample {
  /** The client's latency of the first request. */
  firstMs: number;
  /** The router's Server-Timing `total` of it, and the host's `load` (the session brought up). */
  routerTotalMs: number;
  loadMs: number;
  /** The client's latency of the request after it (warm), for comparison. */
  warmMs: number;
  status: number;
  /** Sessions of the model its host held after the unload (0: it freed them), and after the load (1: load warmed it). */
  sessionsAfterUnload?: number;
  sessionsBefore?: number;
  /** The model_repository load call, at the client: the registry warms the model's hosts before it answers. */
  loadCallMs?: number;
}

function sample(first: Outcome, warm: Outcome): ColdSample {
  return {
    firstMs: first.latencyMs,
    routerTotalMs: first.server?.total ?? Number.NaN,
    loadMs: first.server?.load ?? 0,
    warmMs: warm.latencyMs,
    status: first.status,
  };
}

/** An admin POST; the milliseconds until its answer. */
async function adminPost(url: string, adminToken: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${text.slice(0, 300)}`);
  return performance.now() - started;
}

const p50 = (values: number[]) => percentile(values, 0.5);

/** Replica numbers the bench's warm route takes (router/routes/bench.ts): each sample a new object. */
const FIRST_BENCH_REPLICA = 1_000;

/** Client milliseconds for each warm of a new replica of `model`. */
async function newReplicaWarms(url: string, model: string, count: number): Promise<number[]> {
  const base = FIRST_BENCH_REPLICA; // the stack is the bench's own: no object of these numbers exists yet
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const response = await fetch(`${url}/bench/warm/${model}?replica=${base + i}`, { method: "POST", signal: AbortSignal.timeout(30_000) });
    const text = await response.text();
    if (!response.ok) throw new Error(`warming replica ${base + i} of ${model}: ${response.status} ${text.slice(0, 300)}`);
    times.push(performance.now() - started);
    if ((JSON.parse(text) as { sessions: number }).sessions !== 1) throw new Error(`replica ${base + i} answered without a session of ${model}: ${text}`);
  }
  return times;
}

export async function coldPart({ stack, quick, log }: PartContext): Promise<PartResult> {
  await stack.admin.uploadModel(COLD_MODEL, "1", modelFile("silero-vad"), { placement: "edge", maxBatch: 16, maxReplicas: 1 });
  const premium = stack.keys.premium;
  const sessionsOf = async (model: string) => ((await stack.hostState(model)).sessions ?? []).filter((s) => s.model === model).length;
  const spec = (model: string): RequestSpec => ({
    path: `/v2/models/${model}/infer`,
    body: stack.sileroRequest,
    headers: jsonHeaders(premium),
    timeoutMs: 30_000,
  });
  const replicaWarms = await newReplicaWarms(stack.url, "silero-vad", quick ? 5 : 20);
  log(`start/cold: new replicas of silero-vad warm in ${replicaWarms.map((t) => t.toFixed(0)).join(", ")} ms`);
  const reloads: ColdSample[] = [];
  const reloadCount = quick ? 3 : 10;
  for (let i = 0; i < reloadCount; i++) {
    const { admin: adminToken } = stack.keys;
    await adminPost(`${stack.url}/v2/repository/models/${COLD_MODEL}/unload`, adminToken);
    const sessionsAfterUnload = await sessionsOf(COLD_MODEL);
    // The registry publishes a model's record to KV at most once a second (KV's limit per key):
    // a load right after the unload would wait for that, not for the hosts to warm.
    await new Promise((r) => setTimeout(r, 1_100));
    const loadCallMs = await adminPost(`${stack.url}/v2/repository/models/${COLD_MODEL}/load`, adminToken);
    const sessionsBefore = await sessionsOf(COLD_MODEL);
    const agent = newAgent(1);
    const first = await send(stack.url, agent, spec(COLD_MODEL));
    reloads.push({ ...sample(first, await send(stack.url, agent, spec(COLD_MODEL))), sessionsAfterUnload, sessionsBefore, loadCallMs });
    agent.destroy();
  }
  log(`start/cold: reloaded ${COLD_MODEL} ${reloadCount} times, first request router total p50 ${ms(p50(reloads.map((s) => s.routerTotalMs)), 1)} ms`);

  const restarts: (ColdSample & { bannerMs: number })[] = [];
  for (let i = 0; i < (quick ? 1 : 3); i++) {
    const bannerMs = await stack.restart();
    const agent = newAgent(1);
    const first = await send(stack.url, agent, spec("silero-vad"));
    restarts.push({ ...sample(first, await send(stack.url, agent, spec("silero-vad"))), bannerMs });
    agent.destroy();
    log(
      `start/cold: restart ${i + 1}: banner after ${(bannerMs / 1000).toFixed(1)} s, first Silero request ${ms(first.latencyMs, 1)} ms (status ${first.status})`,
    );
  }

  // At the client: workerd's clock stands still while the host creates a session (no I/O), so
  // the router's and host's own timings leave that work out; the client's wall clock does not.
  const replicaReady = p50(replicaWarms);
  // A reload whose unload left the session in place measured a warm that loaded nothing.
  const reloadsLoaded = reloads.every((s) => s.sessionsAfterUnload === 0 && s.sessionsBefore === 1);
  const freshFirst = p50(restarts.map((s) => s.firstMs));
  const row = (label: string, list: ColdSample[]) => [
    label,
    String(list.length),
    ms(p50(list.map((s) => s.loadCallMs ?? Number.NaN)), 1),
    ms(p50(list.map((s) => s.firstMs)), 1),
    ms(p50(list.map((s) => s.routerTotalMs)), 1),
    ms(p50(list.map((s) => s.loadMs)), 1),
    ms(p50(list.map((s) => s.warmMs)), 1),
    [...new Set(list.map((s) => s.status))].join(", "),
  ];
  const failedReloads = reloads.filter((s) => s.status !== 200).length;
  const failedRestarts = restarts.filter((s) => s.status !== 200).length;
  return {
    title: "Cold starts: a new replica ready, and the first request in a fresh isolate",
    method:
      `New replica ready: replica N of silero-vad warmed ${replicaWarms.length} times through the bench's warm route, each time a replica number no model ` +
      `uses, so a new object that brings the session up from R2, as the replica set warms a replica before it sends it traffic; timed at the client. ` +
      `Version reloaded: \`${COLD_MODEL}\` (silero-vad's bytes) unloaded and loaded ${reloadCount} times through the model_repository API; unload frees its ` +
      `session on the host (checked) and load has the registry warm it again before it answers, so the load call holds a new replica's work plus the ` +
      `registry's bookkeeping (it starts 1.1 s after the unload, as the registry writes a model's KV record at most once a second); its first request is ` +
      `shown too. Fresh isolate: start.ts stopped with SIGTERM and started again on the same state (new workerd processes); the ` +
      `first Silero request after its banner, at the client (start.ts's own admin calls have run by then, and the host's isolate is started before the banner).`,
    details: [
      table(
        [
          "case",
          "samples",
          "load call at the client, p50 ms",
          "first request at the client, p50 ms",
          "its router total, p50 ms",
          "its host `load`, p50 ms",
          "next request (warm), p50 ms",
          "statuses",
        ],
        [row("version unloaded and loaded", reloads), row("`npm start` restarted", restarts)],
      ),
      "",
      `New replica warms, client ms in order: ${replicaWarms.map((t) => t.toFixed(1)).join(", ")}.`,
      "",
      `Sessions of \`${COLD_MODEL}\` its host held after each unload, then after each load: ` +
        `${reloads.map((s) => `${s.sessionsAfterUnload}/${s.sessionsBefore}`).join(", ")} (0/1: the unload freed it, the load warmed it). Server-Timing \`load\` is the host's clock, which workerd stops during synchronous work such as creating ` +
        `a session, so cold times are read at the client. Restarts: banner after ${restarts.map((s) => (s.bannerMs / 1000).toFixed(1)).join(", ")} s.`,
    ].join("\n"),
    targets: [
      {
        what: "new replica ready (a new replica's warm, session from R2, client p50)",
        measured: `${ms(replicaReady, 1)} ms (version reload ${ms(p50(reloads.map((s) => s.loadCallMs!)), 1)} ms)`,
        target: `<= ${TARGET_REPLICA_READY_MS} ms`,
        met: replicaReady <= TARGET_REPLICA_READY_MS && failedReloads === 0 && reloadsLoaded,
      },
      {
        what: "first request in a fresh isolate (client, p50)",
        measured: `${ms(freshFirst, 1)} ms (max ${ms(Math.max(...restarts.map((s) => s.firstMs)), 1)})`,
        target: `<= ${TARGET_FRESH_ISOLATE_MS} ms`,
        met: freshFirst <= TARGET_FRESH_ISOLATE_MS && failedRestarts === 0,
      },
    ],
    data: { replicaWarms, reloads, restarts },
  };
}
