/**
 * @module Part 4 of the `start` scenario: dynamic batching at saturation for silero-vad on the
 * `npm start` stack. The model is uploaded twice more, with max_batch 16 and a small queue delay
 * and with max_batch 1; 32 closed-loop clients over 8 premium tenants send one 32 ms frame each
 * per request, the two settings alternating in rounds. The host's `batches` and
 * `batchedRequests` counters say how large the batches it formed were.
 */
import { batchCeiling } from "./batch-ceiling.ts";
import { closedLoop, type RequestSpec } from "./load.ts";
import { batchingCostChart } from "./start-charts.ts";
import { modelFile } from "./stack.ts";
import { jsonHeaders, type PartContext, type PartResult } from "./start-part.ts";
import { describeRounds, ms, ratio, table, type Round } from "./stats.ts";

const CONCURRENCY = 32;
const MAX_BATCH = 16;
/** Long enough for a few frames to join a batch, short beside a run at saturation. */
const QUEUE_DELAY_US = 2_000;
export const TARGET_BATCHING_GAIN = 3;

type Setting = "on" | "off";
const MODELS: Record<Setting, string> = { on: "silero-vad-batch16", off: "silero-vad-batch1" };

export async function batchingPart({ stack, quick, log, signal }: PartContext): Promise<PartResult> {
  const admin = stack.admin;
  await admin.uploadModel(MODELS.on, "1", modelFile("silero-vad"), {
    placement: "edge",
    maxBatch: MAX_BATCH,
    maxQueueDelayMicroseconds: QUEUE_DELAY_US,
    maxReplicas: 1,
  });
  await admin.uploadModel(MODELS.off, "1", modelFile("silero-vad"), { placement: "edge", maxBatch: 1, maxReplicas: 1 });
  const keys = (await stack.tenants("premium", 8, "batching")).map((t) => t.key);
  const body = stack.sileroRequest;
  let k = 0;
  const spec = (setting: Setting) => (): RequestSpec => ({
    path: `/v2/models/${MODELS[setting]}/infer`,
    body,
    headers: jsonHeaders(keys[k++ % keys.length]!),
    timeoutMs: 10_000,
  });
  const rounds = quick ? 1 : 3;
  const roundMs = quick ? 2_000 : 5_000;
  for (const setting of ["on", "off"] as const)
    await closedLoop({ signal, baseUrl: stack.url, concurrency: CONCURRENCY, durationMs: 1_000, next: spec(setting) }); // warm-up
  const before = { on: await stack.hostCounters(MODELS.on), off: await stack.hostCounters(MODELS.off) };
  const results: Record<Setting, Round[]> = { on: [], off: [] };
  const hostCpuMs: Record<Setting, number> = { on: 0, off: 0 };
  for (let r = 0; r < rounds && !signal.aborted; r++) {
    for (const setting of r % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const)) {
      const cpuBefore = stack.hostCpuMs();
      const run = await closedLoop({ signal, baseUrl: stack.url, concurrency: CONCURRENCY, durationMs: roundMs, maxRequests: 200_000, next: spec(setting) });
      hostCpuMs[setting] += stack.hostCpuMs() - cpuBefore;
      const ok = run.outcomes.filter((o) => o.status === 200).length;
      results[setting].push({ throughput: ok / (run.elapsedMs / 1000), outcomes: run.outcomes });
      log(`start/batching: max_batch ${setting === "on" ? MAX_BATCH : 1}, round ${r + 1}/${rounds}: ${results[setting].at(-1)!.throughput.toFixed(0)} req/s`);
    }
  }
  const after = { on: await stack.hostCounters(MODELS.on), off: await stack.hostCounters(MODELS.off) };
  const counters = (setting: Setting) => {
    const batches = after[setting].batches - before[setting].batches;
    const batchedRequests = after[setting].batchedRequests - before[setting].batchedRequests;
    const completed = after[setting].completed - before[setting].completed;
    // The answers the clients got: the host's counters live in its memory and start again from
    // zero if the object restarts during the part (one run counted 7,626 of 12,600 answers), so the
    // CPU per request is divided by these, and a gap between the two is reported.
    const answered = results[setting].reduce((sum, round) => sum + round.outcomes.filter((o) => o.status === 200).length, 0);
    if (Math.abs(completed - answered) > 0.02 * answered)
      log(`start/batching: ${setting}: the host counted ${completed} completed, the clients ${answered} answers`);
    return {
      batches,
      batchedRequests,
      completed,
      answered,
      runs: completed - batchedRequests + batches,
      hostCpuPerRequestMs: hostCpuMs[setting] / Math.max(1, answered),
    };
  };
  // After the load, so that its runs do not share the machine with the stack's.
  log("start/batching: the model's own gain from batching, outside the stack");
  const ceiling = await batchCeiling(modelFile("silero-vad"), body, MAX_BATCH, quick ? 1 : 3);
  const on = { ...describeRounds(results.on), counters: counters("on") };
  const off = { ...describeRounds(results.off), counters: counters("off") };
  const gain = on.throughput / off.throughput;
  const capacityGain = off.counters.hostCpuPerRequestMs / on.counters.hostCpuPerRequestMs;
  const row = (label: string, s: typeof on) => [
    label,
    s.throughput.toFixed(0),
    s.throughputs.join(", "),
    ms(s.p50, 1),
    ms(s.p99, 1),
    String(s.counters.batches),
    String(s.counters.batchedRequests),
    ms(s.counters.completed / Math.max(1, s.counters.runs), 2),
    ms(s.counters.hostCpuPerRequestMs, 3),
    String(s.failed),
  ];
  return {
    title: "Dynamic batching at saturation: silero-vad, max_batch 16 vs 1",
    method:
      `${CONCURRENCY} closed-loop clients over ${keys.length} premium tenants, one 576-sample frame with its state per request (the banner's request), ` +
      `${rounds} round(s) of ${roundMs / 1000} s per setting, alternating; throughput is the median over rounds. Batching on: max_batch ${MAX_BATCH}, ` +
      `max_queue_delay ${QUEUE_DELAY_US} µs; off: max_batch 1. Counters are the host's over the rounds: \`batches\` (runs of more than one request) and ` +
      `\`batchedRequests\` (requests in them); requests per run is completed / (completed - batchedRequests + batches). Host CPU per request is the ModelHosts' ` +
      `workerd process's CPU time (/proc) over the rounds divided by the answers the clients got: the capacity of a replica's thread. ` +
      `The model's own gain (batch-ceiling.ts), measured after the rounds in the benchmark's process: the median run of the same frame alone and of ${MAX_BATCH} ` +
      `copies merged by the host's code, per row, in onnxruntime-web's wasm (one thread, the kernels a ModelHost runs) and in onnxruntime-node (one intra-op thread): ` +
      `web ${ms(ceiling.web.single.runMs, 3)} ms per row alone, ${ms(ceiling.web.batched.rowMs, 3)} ms in a run of ${MAX_BATCH} (**${ratio(ceiling.web.gain)}x**); ` +
      `node ${ms(ceiling.node.single.runMs, 3)} / ${ms(ceiling.node.batched.rowMs, 3)} ms (${ratio(ceiling.node.gain)}x). ` +
      `A replica's gain cannot pass the web figure: batching shares the model's run, not each request's call and scheduling.`,
    details: table(
      [
        "setting",
        "req/s (median)",
        "req/s per round",
        "p50 ms",
        "p99 ms",
        "batches",
        "batchedRequests",
        "requests per run",
        "host CPU ms per request",
        "failed",
      ],
      [row(`max_batch ${MAX_BATCH}, delay ${QUEUE_DELAY_US} µs`, on), row("max_batch 1", off)],
    ),
    targets: [
      {
        what: "throughput, max_batch 16 / max_batch 1",
        measured: `${ratio(gain)}x (${on.throughput.toFixed(0)} / ${off.throughput.toFixed(0)} req/s)`,
        target: `>= ${TARGET_BATCHING_GAIN}x`,
        met: gain >= TARGET_BATCHING_GAIN,
      },
      {
        // Deployed, routers scale out and a replica's one thread is what bounds a model's
        // throughput; locally the router, the host and the load generator share this machine's cores.
        what: "replica capacity (ModelHost process CPU per request), max_batch 1 / max_batch 16",
        measured: `${ratio(capacityGain)}x (${off.counters.hostCpuPerRequestMs.toFixed(3)} / ${on.counters.hostCpuPerRequestMs.toFixed(3)} ms; the model's own gain in onnxruntime-web ${ratio(ceiling.web.gain)}x)`,
        target: `>= ${TARGET_BATCHING_GAIN}x`,
        met: capacityGain >= TARGET_BATCHING_GAIN,
      },
    ],
    data: { concurrency: CONCURRENCY, rounds, roundMs, maxBatch: MAX_BATCH, queueDelayUs: QUEUE_DELAY_US, on, off, gain, capacityGain, ceiling },
    charts: {
      "start-batching-cost.svg": batchingCostChart({
        hostOff: off.counters.hostCpuPerRequestMs,
        hostOn: on.counters.hostCpuPerRequestMs,
        modelAlone: ceiling.web.single.runMs,
        modelBatched: ceiling.web.batched.rowMs,
        maxBatch: MAX_BATCH,
      }),
    },
  };
}
