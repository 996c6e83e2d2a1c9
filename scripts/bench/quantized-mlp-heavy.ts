/**
 * @module What quantisation buys for mlp-heavy: `node scripts/bench/quantized-mlp-heavy.ts`.
 * File sizes (fp32, int8, fp16), onnxruntime-node latency at batch 1 and 64, the error on probe
 * inputs, and the wasm memory onnxruntime-web (the edge's build, run in Node) holds for each
 * variant's session: the memory's growth over the first create (its peak: wasm memory never
 * shrinks) and over each of two more sessions of the same model (what a session keeps; the first
 * create's freed peak is reused). Each variant's memory is measured in a fresh process, since a
 * wasm memory only grows. `--web-memory <file>` is that child's own mode.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as ortNode from "onnxruntime-node";
import { catalogEntry, modelBytes } from "../models/catalog.ts";
import { ortWeb } from "../models/ort-web-node.ts";
import { measureProbeError } from "../models/probe-run.ts";
import { quantizeModel } from "../models/quantize.ts";

const MB = 1e6;
const SESSIONS = 3;

interface WebMemory {
  fileBytes: number;
  peakGrowth: number;
  /** Growth for each session after the first. */
  laterGrowth: number[];
}

async function webMemory(file: string): Promise<WebMemory> {
  const bytes = new Uint8Array(readFileSync(file));
  const web = await ortWeb();
  const sizes = [web.memoryBytes()];
  const sessions = [];
  for (let i = 0; i < SESSIONS; i++) {
    sessions.push(await web.ort.InferenceSession.create(bytes, { graphOptimizationLevel: "all" }));
    sizes.push(web.memoryBytes());
  }
  const growth = sizes.slice(1).map((size, i) => size - sizes[i]!);
  return { fileBytes: bytes.length, peakGrowth: growth[0]!, laterGrowth: growth.slice(1) };
}

async function latencyMs(bytes: Uint8Array, batch: number): Promise<number> {
  const session = await ortNode.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const input = new ortNode.Tensor(
    "float32",
    Float32Array.from({ length: batch * 1024 }, (_, i) => Math.sin(i)),
    [batch, 1024],
  );
  for (let i = 0; i < 3; i++) await session.run({ input });
  const runs = batch === 1 ? 50 : 10;
  const started = performance.now();
  for (let i = 0; i < runs; i++) await session.run({ input });
  const ms = (performance.now() - started) / runs;
  await session.release();
  return ms;
}

async function report(): Promise<void> {
  const fp32 = modelBytes(catalogEntry("mlp-heavy"));
  const variants = { fp32, int8: quantizeModel(fp32, { mode: "int8" }).bytes, fp16: quantizeModel(fp32, { mode: "fp16" }).bytes };
  const scratch = fileURLToPath(new URL("../../.hotpath/bench/", import.meta.url));
  mkdirSync(scratch, { recursive: true });
  console.log(
    "variant  file MB  ratio  node 1 thread: batch 1 ms, batch 64 ms  probe max abs, max rel  web memory: first create MB (x file), each later session MB (x file)",
  );
  for (const [name, bytes] of Object.entries(variants)) {
    const file = `${scratch}mlp-heavy-${name}.onnx`;
    writeFileSync(file, bytes);
    const [one, sixtyFour] = [await latencyMs(bytes, 1), await latencyMs(bytes, 64)];
    const error = name === "fp32" ? undefined : (await measureProbeError(ortNode, fp32, bytes, 16)).outputs[0]!;
    const child = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--web-memory", file], { encoding: "utf8" });
    const memory = JSON.parse(child) as WebMemory;
    const later = memory.laterGrowth.map((g) => `${(g / MB).toFixed(1)} (${(g / memory.fileBytes).toFixed(2)}x)`).join(", ");
    console.log(
      [
        name.padEnd(7),
        (bytes.length / MB).toFixed(1).padStart(7),
        (bytes.length / fp32.length).toFixed(3),
        `${one.toFixed(2)}, ${sixtyFour.toFixed(1)}`,
        error ? `${error.maxAbsolute.toExponential(2)}, ${error.maxRelative.toExponential(2)}` : "-",
        `${(memory.peakGrowth / MB).toFixed(1)} (${(memory.peakGrowth / memory.fileBytes).toFixed(2)}x), ${later}`,
      ].join("  "),
    );
  }
}

const at = process.argv.indexOf("--web-memory");
if (at >= 0) process.stdout.write(JSON.stringify(await webMemory(process.argv[at + 1]!)));
else await report();
