/**
 * @module onnxruntime-web's wasm build, the one the edge runs (durable-objects/model-host/ort-web.ts),
 * loaded in Node for tests and measurements: the same `onnxruntime-web/wasm` entry and
 * ort-wasm-simd-threaded.wasm, one thread, no proxy. The wasm instance is caught as ORT creates
 * it, so the size of its linear memory (what a session costs an isolate) can be read.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as ort from "onnxruntime-web/wasm";
import { DataType, encodeModel, node, onnx } from "./onnx-graph.ts";

export interface OrtWeb {
  ort: typeof ort;
  /** The wasm linear memory's size in bytes now; it only grows, so it is also the peak so far. */
  memoryBytes(): number;
}

let loaded: Promise<OrtWeb> | undefined;

/** The little of the WebAssembly API used here (Node's types do not declare it without the DOM lib). */
interface WasmMemory {
  buffer: ArrayBuffer;
}
interface WasmApi {
  instantiate(source: unknown, imports?: Record<string, Record<string, unknown>>): Promise<unknown>;
  Memory: abstract new (...args: never[]) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

async function load(): Promise<OrtWeb> {
  const wasmPath = createRequire(import.meta.url).resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = readFileSync(wasmPath);
  let memory: WasmMemory | undefined;
  const isMemory = (value: unknown): value is WasmMemory => value instanceof wasm.Memory;
  const original = wasm.instantiate.bind(wasm);
  const catching = async (source: unknown, imports?: Record<string, Record<string, unknown>>) => {
    const result = await original(source, imports);
    // instantiate(bytes) gives { instance, module }, instantiate(module) the instance itself.
    const instance = (typeof result === "object" && result !== null && "instance" in result ? result.instance : result) as { exports: Record<string, unknown> };
    // Emscripten exports the memory, or imports it when JS creates it (threaded builds).
    memory ??= Object.values(instance.exports).find(isMemory);
    memory ??= Object.values(imports ?? {})
      .flatMap((m) => Object.values(m))
      .find(isMemory);
    return result;
  };
  wasm.instantiate = catching;
  try {
    // A throwaway session makes ORT instantiate its wasm now, while the catch is in place.
    await ort.InferenceSession.create(tinyModel()).then((session) => session.release());
  } finally {
    wasm.instantiate = original;
  }
  if (!memory) throw new Error("onnxruntime-web's wasm memory was not found");
  const found = memory;
  return { ort, memoryBytes: () => found.buffer.byteLength };
}

/** The smallest valid model: Identity on one float. */
function tinyModel(): Uint8Array {
  const value = (name: string) => ({ name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 1 }] } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: { name: "identity", node: [node("Identity", ["x"], ["y"], "identity")], input: [value("x")], output: [value("y")] },
  });
  return encodeModel(model);
}

/** One instance per process, like ORT itself. */
export function ortWeb(): Promise<OrtWeb> {
  loaded ??= load();
  return loaded;
}
