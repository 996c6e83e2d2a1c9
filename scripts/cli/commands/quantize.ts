/**
 * @module `hotpath models quantize <in.onnx> <out.onnx> --int8|--fp16 [--probes N]`: a smaller copy
 * of a model, made locally (no server), with its size before and after and its error against the
 * original on generated probe inputs, measured with onnxruntime-node. The quantiser (onnx-proto)
 * and onnxruntime-node are loaded only when this command runs, so the other commands do not need them.
 */
import { Command } from "commander";
import { readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { ProbeReport } from "../../models/probe-run.ts";
import type { QuantizeMode, QuantizeResult } from "../../models/quantize.ts";
import { nonNegativeInteger } from "../arguments.ts";
import type { GlobalOptions } from "../context.ts";
import { CliError } from "../errors.ts";
import { answer, fields, formatBytes, table } from "../output.ts";

const DEFAULT_PROBES = 16;
const PROBE_SEED = 1;

interface QuantizeOptions {
  int8?: boolean;
  fp16?: boolean;
  probes: number;
}

export interface QuantizeAnswer {
  input: string;
  output: string;
  mode: QuantizeMode;
  bytesBefore: number;
  bytesAfter: number;
  quantized: QuantizeResult["quantized"];
  skipped: QuantizeResult["skipped"];
  /** Absent with --probes 0. */
  probeError?: ProbeReport;
}

function readModel(file: string): Uint8Array {
  try {
    if (!statSync(file).isFile()) throw new CliError(`${file} is not a file`);
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    if (error instanceof CliError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(code === "ENOENT" ? `no such file: ${file}` : `cannot read ${file} (${code ?? String(error)})`);
  }
}

/** The same file under two names would lose the original before its outputs are compared. */
function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

async function measure(original: Uint8Array, quantized: Uint8Array, probes: number): Promise<ProbeReport> {
  let ort: typeof import("onnxruntime-node");
  try {
    ort = await import("onnxruntime-node");
  } catch {
    throw new CliError("measuring the error needs onnxruntime-node (npm install onnxruntime-node), or pass --probes 0 to skip it");
  }
  const { measureProbeError } = await import("../../models/probe-run.ts");
  try {
    return await measureProbeError(ort, original, quantized, probes, PROBE_SEED);
  } catch (error) {
    throw new CliError(`the probe inputs did not run: ${(error as Error).message}`);
  }
}

const exponent = (value: number): string => (Number.isFinite(value) ? value.toExponential(2) : String(value));

function describe(result: QuantizeAnswer): string {
  const ratio = ((100 * result.bytesAfter) / result.bytesBefore).toFixed(1);
  const lines = [
    fields([
      ["wrote", `${result.output} (${result.mode})`],
      ["size", `${formatBytes(result.bytesBefore)} -> ${formatBytes(result.bytesAfter)} (${ratio}% of the original)`],
      ["weights", `${result.quantized.length} MatMul/Gemm node(s) quantised`],
      ...result.skipped.map((s): [string, string] => ["left in fp32", `${s.node}: ${s.reason}`]),
    ]),
  ];
  const probes = result.probeError;
  if (probes) {
    lines.push(`\nerror against the original on ${probes.probes} probe inputs (seed ${probes.seed}, onnxruntime-node):`);
    const rows = probes.outputs.map((o) => [
      o.name,
      exponent(o.maxAbsolute),
      exponent(o.maxRelative),
      o.top1Agreement === undefined ? "-" : `${(100 * o.top1Agreement).toFixed(1)}% of ${o.rows}`,
    ]);
    lines.push(table(["output", "max abs", "max rel", "top-1 agreement"], rows));
  }
  return lines.join("\n");
}

async function quantize(input: string, output: string, options: QuantizeOptions, command: Command): Promise<void> {
  if (options.int8 === options.fp16) command.error("error: give exactly one of --int8 and --fp16");
  const mode: QuantizeMode = options.int8 ? "int8" : "fp16";
  const [inPath, outPath] = [resolve(input), resolve(output)];
  if (inPath === outPath || sameFile(inPath, outPath)) throw new CliError("the output must be another file than the input");
  const original = readModel(inPath);
  const { quantizeModel, NotOnnxError } = await import("../../models/quantize.ts");
  let result: QuantizeResult;
  try {
    result = quantizeModel(original, { mode });
  } catch (error) {
    if (error instanceof NotOnnxError) throw new CliError(`${input} is ${error.message}`);
    throw new CliError(`${input}: ${(error as Error).message}`);
  }
  // Measured before writing: a file onnxruntime cannot run is not left behind.
  const probeError = options.probes > 0 ? await measure(original, result.bytes, options.probes) : undefined;
  try {
    writeFileSync(outPath, result.bytes);
  } catch (error) {
    throw new CliError(`cannot write ${output} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const json = command.optsWithGlobals<GlobalOptions>().json === true;
  const value: QuantizeAnswer = {
    input,
    output,
    mode,
    bytesBefore: original.length,
    bytesAfter: result.bytes.length,
    quantized: result.quantized,
    skipped: result.skipped,
    ...(probeError ? { probeError } : {}),
  };
  answer(json, value, describe);
}

export function quantizeCommand(): Command {
  return new Command("quantize")
    .description("write a smaller copy of a model: int8 (dynamic quantisation) or fp16 MatMul/Gemm weights; prints sizes and the error on probe inputs")
    .argument("<in>", "the .onnx file to read")
    .argument("<out>", "the .onnx file to write")
    .option("--int8", "8-bit weights, 8-bit matrix products (about a quarter of the size, and of the session's memory)")
    .option("--fp16", "16-bit weights, fp32 arithmetic (half the file; a session still holds fp32 weights)")
    .option("--probes <n>", "generated probe inputs to measure the error on (0: do not measure)", nonNegativeInteger, DEFAULT_PROBES)
    .action(quantize);
}
