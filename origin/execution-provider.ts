/**
 * @module Chooses the execution provider once, at start: `cpu`, or `webgpu` when a GPU answers.
 * A tiny built-in model is loaded and run on the requested provider before any real model, so a
 * machine without a GPU (or without the Vulkan loader, see docs/gpu.md) says why in one line and falls
 * back to cpu, or stops with `--strict`, instead of failing later on the first heavy model.
 */
import { HttpError } from "../protocol/errors.ts";
import type { ExecutionProvider } from "./config.ts";
import type { InferenceWorker } from "./inference-worker-client.ts";

/**
 * A 4-4 Gemm (scripts/models/mlp.ts: generateMlp({ layers: [4, 4], seed: 1, inputName: "x",
 * outputName: "y" })), 307 bytes: enough to make onnxruntime open the provider and run a kernel.
 */
export const PROBE_MODEL_BASE64 =
  "CAgSB2hvdHBhdGgaATEyLWhvdHBhdGggZGV0ZXJtaW5pc3RpYyBNTFAgbGF5ZXJzPVs0LDRdIHNlZWQ9MTrbAQonCgF4CgpmYzAud2VpZ2h0CghmYzAuYmlhcxIBeRoDZmMwIgRHZW1tEgNtbHAqVAoCBAQQAUIKZmMwLndlaWdodEpATF6fPtzom7+JsIk9gNOWP0zakj9nQwm//oONPthrCj8xHzq+6CSbP4Zi4L3h+eC86Gliv1Jvcb7uUR6/IqhYvyohCgEEEAFCCGZjMC5iaWFzShDO3TG8soHdvtTR171iwog+WhgKAXgSEwoRCAESDQoHEgViYXRjaAoCCARiGAoBeRITChEIARINCgcSBWJhdGNoCgIIBEIECgAQEQ==";

export interface ProviderChoice {
  ep: ExecutionProvider;
  /** Why the requested provider was not used; undefined when it was. */
  fallbackReason: string | undefined;
  probeMs: number;
}

/**
 * @example
 * const { ep } = await chooseExecutionProvider(worker, "webgpu", { strict: false, threads: 0, log: console.log });
 * // on a machine without a GPU logs one line and returns "cpu"
 */
export async function chooseExecutionProvider(
  worker: InferenceWorker,
  requested: ExecutionProvider,
  options: { strict: boolean; threads: number; log: (line: string) => void },
): Promise<ProviderChoice> {
  const startedAt = performance.now();
  const failure = await probe(worker, requested, options.threads);
  if (failure === undefined) return { ep: requested, fallbackReason: undefined, probeMs: performance.now() - startedAt };
  const reason = `execution provider '${requested}' is unavailable: ${failure}`;
  if (requested === "cpu" || options.strict) {
    throw new HttpError(503, requested === "cpu" ? reason : `${reason} (--strict: not falling back to cpu)`);
  }
  options.log(`${reason}; falling back to cpu (a GPU, its Vulkan driver and VK_DRIVER_FILES are needed: see docs/gpu.md)`);
  const cpuFailure = await probe(worker, "cpu", options.threads);
  if (cpuFailure !== undefined) throw new HttpError(503, `execution provider 'cpu' is unavailable too: ${cpuFailure}`);
  return { ep: "cpu", fallbackReason: failure, probeMs: performance.now() - startedAt };
}

/** undefined when a session opens and runs on `ep`; else the reason, in one short line. */
async function probe(worker: InferenceWorker, ep: ExecutionProvider, threads: number): Promise<string | undefined> {
  try {
    await worker.probe(new Uint8Array(Buffer.from(PROBE_MODEL_BASE64, "base64")), ep, threads);
    return undefined;
  } catch (error) {
    return oneLine(error instanceof Error ? error.message : String(error));
  }
}

/**
 * onnxruntime's messages start with a source path and an assertion ("... webgpu_context.cc:136
 * ... == Success was false. Failed to get a WebGPU adapter: No supported adapters"): keep the
 * sentence after the assertion, which is the part a person can act on.
 */
export function oneLine(message: string): string {
  const flat = message.replace(/\s+/g, " ").trim();
  const afterAssertion = flat.split(/ was false\. /).at(-1) ?? flat;
  return afterAssertion.length > 240 ? `${afterAssertion.slice(0, 240)}...` : afterAssertion;
}
