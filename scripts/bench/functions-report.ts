/**
 * @module The functions scenario's report: latency and throughput of hotpath beside the plain
 * server, hotpath's time split by step from Server-Timing and its hops per call, the live streams,
 * and a chart of p50/p99 by function.
 */
import type { FunctionCase } from "./function-media.ts";
import type { StreamStep } from "./function-streams.ts";
import type { Outcome } from "./load.ts";
import { ms, percentile, ratio, table } from "./stats.ts";
import { barChart, COLORS } from "./svg.ts";

export interface Measured {
  case: FunctionCase["name"];
  what: string;
  /** The first answer of each server, compared for agreement. */
  answers: { hotpath: unknown; plain: unknown };
  /** Sequential calls, one at a time. */
  runs: { hotpath: Outcome[]; plain: Outcome[] };
  /** Calls per second at the throughput concurrency. */
  throughput: { hotpath: number; plain: number };
}

export interface ReportInput {
  quick: boolean;
  measured: Measured[];
  streams: StreamStep[];
  streamSeconds: number;
  streamBoundMs: number;
  /** silero-vad host counters over the stream steps. */
  streamBatches: { batches: number; batchedRequests: number; admitted: number };
  vadAnswer: unknown;
  targetVadRatio: number;
  concurrency: number;
  deadlineMs: number;
}

/** Server-Timing entries summed by name (a pipeline repeats host, queue and infer per model call), and the descriptions. */
export function parseTiming(header: string | undefined): { durations: Record<string, number>; notes: Record<string, string[]> } {
  const durations: Record<string, number> = {};
  const notes: Record<string, string[]> = {};
  for (const entry of (header ?? "").split(",")) {
    const [name = "", ...params] = entry.trim().split(";");
    for (const param of params) {
      const [key, value = ""] = param.trim().split("=");
      if (key === "dur") durations[name] = (durations[name] ?? 0) + Number(value);
      if (key === "desc") (notes[name] ??= []).push(value.replace(/^"|"$/g, ""));
    }
  }
  return { durations, notes };
}

const ok = (outcomes: Outcome[]) => outcomes.filter((o) => o.status === 200);
const latency = (outcomes: Outcome[], p: number) =>
  percentile(
    ok(outcomes).map((o) => o.latencyMs),
    p,
  );
const median = (values: number[]) => percentile(values, 0.5);

/** Median of each step over the sequential calls, and the model calls (hops) and runs per call. */
function split(outcomes: Outcome[], steps: readonly string[]) {
  const parsed = ok(outcomes).map((o) => ({ ...parseTiming(o.timing), servedBy: o.servedBy }));
  const step = Object.fromEntries(steps.map((name) => [name, median(parsed.flatMap((p) => (p.durations[name] === undefined ? [] : [p.durations[name]!])))]));
  const hops = parsed.map((p) => (p.servedBy ? p.servedBy.split(",").length : 0));
  // A job says how many runs its loop made; each `batch` entry is one run (its description is the rows in it).
  const runs = parsed.map((p) => (p.notes.runs ?? []).reduce((sum, n) => sum + Number(n), 0) + (p.notes.batch?.length ?? 0));
  return { step, hopsMin: Math.min(...hops), hopsMax: Math.max(...hops), runs: median(runs) };
}

function agreement(name: FunctionCase["name"], hotpath: unknown, plain: unknown): string {
  if (JSON.stringify(hotpath) === JSON.stringify(plain)) return "identical";
  const texts = (answer: unknown) => JSON.stringify((answer as { lines?: { text: string }[] }).lines?.map((l) => l.text) ?? (answer as { text?: string }).text);
  if (name !== "vad" && texts(hotpath) === texts(plain)) return "same text";
  if (name === "vad" && JSON.stringify((hotpath as { segments: unknown }).segments) === JSON.stringify((plain as { segments: unknown }).segments)) {
    return "same segments";
  }
  return "**differ**";
}

export function report(input: ReportInput) {
  const HOTPATH_STEPS = ["decode", "host", "queue", "infer", "post", "total"] as const;
  const PLAIN_STEPS = ["decode", "infer", "post", "total"] as const;
  const rows = input.measured.map((m) => {
    const hotpath = { p50: latency(m.runs.hotpath, 0.5), p99: latency(m.runs.hotpath, 0.99) };
    const plain = { p50: latency(m.runs.plain, 0.5), p99: latency(m.runs.plain, 0.99) };
    const failed = [...m.runs.hotpath, ...m.runs.plain].filter((o) => o.status !== 200).length;
    return {
      case: m.case,
      what: m.what,
      calls: m.runs.hotpath.length,
      failed,
      agreement: agreement(m.case, m.answers.hotpath, m.answers.plain),
      hotpath,
      plain,
      p50Ratio: hotpath.p50 / plain.p50,
      p99Ratio: hotpath.p99 / plain.p99,
      throughput: m.throughput,
      hotpathSplit: split(m.runs.hotpath, HOTPATH_STEPS),
      plainSplit: split(m.runs.plain, PLAIN_STEPS),
    };
  });
  const vad = rows.find((r) => r.case === "vad")!;
  const met = vad.p50Ratio <= input.targetVadRatio;
  const vadOneHop = vad.hotpathSplit.hopsMax === 1 && vad.hotpathSplit.hopsMin === 1;
  const sustained = input.streams.filter((s) => s.keptUp === s.streams).at(-1)?.streams ?? 0;
  const fellBehind = input.streams.find((s) => s.keptUp < s.streams);
  const { batches, batchedRequests, admitted } = input.streamBatches;

  const markdown = [
    `### functions: hotpath vs a plain Node server (onnxruntime-node, the same function code)`,
    "",
    `The plain server (\`scripts/bench/plain-functions-server.ts\`, its own process) runs the same function modules (decoders, Silero loop, OCR pipeline) on onnxruntime-node with one intra-op thread, as a ModelHost runs onnxruntime-web's wasm on one; ` +
      `hotpath is the local stack (wrangler dev) with a premium key and \`x-hotpath-timeout-ms: ${input.deadlineMs}\`. ` +
      `${vad.calls} / ${rows.find((r) => r.case === "ocr-line")!.calls} / ${rows.find((r) => r.case === "ocr")!.calls} calls per server one at a time (vad / ocr-line / ocr), the servers interleaved, after a warm-up; ` +
      `throughput from ${input.concurrency} clients back to back. ${rows.reduce((n, r) => n + r.failed, 0)} sequential calls failed.`,
    "",
    table(
      [
        "function",
        "answers",
        "hotpath p50 ms",
        "hotpath p99 ms",
        "plain p50 ms",
        "plain p99 ms",
        "**p50 ratio**",
        "p99 ratio",
        `hotpath calls/s (c=${input.concurrency})`,
        "plain calls/s",
      ],
      rows.map((r) => [
        r.what,
        r.agreement,
        ms(r.hotpath.p50),
        ms(r.hotpath.p99),
        ms(r.plain.p50),
        ms(r.plain.p99),
        `**${ratio(r.p50Ratio)}**`,
        ratio(r.p99Ratio),
        r.throughput.hotpath.toFixed(1),
        r.throughput.plain.toFixed(1),
      ]),
    ),
    "",
    `Where the time goes (medians of the sequential calls, ms, from Server-Timing; a pipeline's host, queue and infer summed over its model calls; hops are the model calls, from \`x-served-by\`; runs are model runs):`,
    "",
    table(
      ["function", "server", ...HOTPATH_STEPS.map((s) => (s === "host" ? "host call" : s)), "client p50", "hops", "runs"],
      rows.flatMap((r) => [
        [
          r.what,
          "hotpath",
          ...HOTPATH_STEPS.map((s) => ms(r.hotpathSplit.step[s]!, 2)),
          ms(r.hotpath.p50),
          String(r.hotpathSplit.hopsMax),
          ms(r.hotpathSplit.runs, 0),
        ],
        [
          r.what,
          "plain",
          ...HOTPATH_STEPS.map((s) => (s in r.plainSplit.step ? ms(r.plainSplit.step[s]!, 2) : "")),
          ms(r.plain.p50),
          "",
          ms(r.plainSplit.runs, 0),
        ],
      ]),
    ),
    "",
    `Target: \`vad\` on ${input.measured[0]!.what.replace(/^vad, /, "")} within ${input.targetVadRatio}x of the plain server at p50: **${met ? "met" : "not met"}** (${ratio(vad.p50Ratio)}). ` +
      `One hop per model step: \`vad\` made ${vad.hotpathSplit.hopsMin === vad.hotpathSplit.hopsMax ? vad.hotpathSplit.hopsMax : `${vad.hotpathSplit.hopsMin} to ${vad.hotpathSplit.hopsMax}`} host call${vadOneHop ? "" : "s"} for ${ms(vad.hotpathSplit.runs, 0)} Silero runs (**${vadOneHop ? "met" : "not met"}**).`,
    "",
    `#### Live 16 kHz vad streams on one host`,
    "",
    `Each stream sends a ${input.streamSeconds} s clip in 32 ms messages paced by the clock (the streams spread over one window), then \`end\`. It keeps up when every speech event and its \`done\` arrive within ${input.streamBoundMs} ms of the audio that decides them; the number of streams doubles until one does not.`,
    "",
    table(
      ["streams", "kept up", "failed", "done lag p50 ms", "done lag max ms", "event lag max ms", "client late max ms", "segments as the POST's", "why not"],
      input.streams.map((s) => [
        String(s.streams),
        String(s.keptUp),
        String(s.failed),
        ms(s.doneLagP50Ms, 0),
        ms(s.doneLagMaxMs, 0),
        ms(s.eventLagMaxMs, 0),
        ms(s.clientLateMaxMs, 0),
        `${s.sameAsPost}/${s.streams}`,
        s.failures.join("; ").replace(/\|/g, "/"),
      ]),
    ),
    "",
    `One host kept up with **${sustained}** live stream${sustained === 1 ? "" : "s"} in real time${fellBehind ? ` (at ${fellBehind.streams} one fell behind)` : input.streams.length > 0 ? ` (the most tried${input.quick ? " in a quick run" : ""})` : ""}. ` +
      `During the streams the host ran ${admitted} window calls, ${batchedRequests} of them in ${batches} shared runs of more than one.`,
  ].join("\n");

  const chart = barChart({
    title: "functions: latency by function, hotpath vs plain Node (one at a time)",
    yLabel: "ms (client-measured)",
    groups: rows.map((r) => ({
      label: r.case,
      bars: [
        { name: "hotpath p50", value: r.hotpath.p50, color: COLORS.full },
        { name: "plain p50", value: r.plain.p50, color: COLORS.bare },
        { name: "hotpath p99", value: r.hotpath.p99, color: "#92c5de" },
        { name: "plain p99", value: r.plain.p99, color: "#d9d9d9" },
      ],
    })),
  });
  return {
    name: "functions",
    markdown,
    data: { ...input, measured: undefined, rows, vadP50Ratio: vad.p50Ratio, targetMet: met, vadOneHop, streamsSustained: sustained },
    charts: { "functions-latency.svg": chart },
  };
}
