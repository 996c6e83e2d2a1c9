/**
 * @module What batching can gain at most for a model, before any platform: the model's own run
 * time per row at batch 1 and at max_batch, in onnxruntime-web's wasm (the kernels a ModelHost
 * runs, one thread, in Node) and in onnxruntime-node (one intra-op thread, what an origin runs).
 * Requests are merged by the host's own code (protocol/batching.ts) from the benchmark's request,
 * so the batch is the one a host would run. A replica's capacity gain from batching cannot pass
 * the first ratio: every request still costs the runtime its call and the scheduler its work.
 */
import { readFileSync } from "node:fs";
import * as ortNode from "onnxruntime-node";
import { mergeInputs } from "../../protocol/batching.ts";
import { createModelSession, type ModelSession } from "../../protocol/model-session.ts";
import type { Tensor } from "../../protocol/oip/tensor.ts";
import { ortWeb } from "../models/ort-web-node.ts";
import { tensorsOf } from "./plain-oip.ts";
import { percentile } from "./stats.ts";

export interface RuntimeCeiling {
  /** Median milliseconds per run, and per row, at batch 1 and at `batch`. */
  single: { runMs: number };
  batched: { runMs: number; rowMs: number };
  /** Per-row time at batch 1 over per-row time at `batch`: the most batching can gain. */
  gain: number;
}

export interface BatchCeiling {
  batch: number;
  web: RuntimeCeiling;
  node: RuntimeCeiling;
}

const RUNS_PER_ROUND = 200;

/** Median run time of `runs` runs, after a few to warm the session. */
async function timeRuns(session: ModelSession, inputs: Tensor[], runs: number): Promise<number> {
  const names = session.outputs.map((o) => o.name);
  for (let k = 0; k < 10; k++) await session.run(inputs, names);
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const startedAt = performance.now();
    await session.run(inputs, names);
    times.push(performance.now() - startedAt);
  }
  return percentile(times, 0.5);
}

async function measure(session: ModelSession, one: Tensor[], batch: number, rounds: number): Promise<RuntimeCeiling> {
  if (!session.batchAxes) throw new Error("the model has no batch axis");
  const merged = mergeInputs(
    Array.from({ length: batch }, () => one),
    session.batchAxes,
  );
  const single: number[] = [];
  const batched: number[] = [];
  // Alternating rounds, so a busy moment on the machine falls on both sizes alike.
  for (let r = 0; r < rounds; r++) {
    single.push(await timeRuns(session, one, RUNS_PER_ROUND));
    batched.push(await timeRuns(session, merged, Math.ceil(RUNS_PER_ROUND / 4)));
  }
  const singleMs = percentile(single, 0.5);
  const batchedMs = percentile(batched, 0.5);
  return { single: { runMs: singleMs }, batched: { runMs: batchedMs, rowMs: batchedMs / batch }, gain: singleMs / (batchedMs / batch) };
}

/** The ceiling for `modelPath` at `batch` rows, from `request` (an OIP JSON body of one row). */
export async function batchCeiling(modelPath: string, request: Uint8Array, batch: number, rounds = 3): Promise<BatchCeiling> {
  const bytes = new Uint8Array(readFileSync(modelPath));
  const { ort } = await ortWeb();
  const web = await createModelSession(ort, bytes);
  const node = await createModelSession(ortNode, bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const one = tensorsOf(JSON.parse(new TextDecoder().decode(request)) as Parameters<typeof tensorsOf>[0]);
  try {
    return { batch, web: await measure(web, one, batch, rounds), node: await measure(node, one, batch, rounds) };
  } finally {
    await web.release();
    await node.release();
  }
}
