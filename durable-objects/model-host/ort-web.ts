/**
 * @module onnxruntime-web, made to run inside workerd.
 * workerd forbids compiling wasm from bytes at run time and gives ORT no script URL to find its
 * .wasm by, so the ORT wasm is imported as a precompiled module (bundled by wrangler) and handed
 * to ORT by intercepting the one `WebAssembly.instantiate` call its loader makes
 * (docs/architecture.md, "onnxruntime-web inside workerd").
 */
import * as ort from "onnxruntime-web/wasm";
import ortWasmModule from "onnxruntime-web/ort-wasm-simd-threaded.wasm";
import type { OrtRuntime } from "../../protocol/model-session.ts";

let configured = false;

export function ortWeb(): OrtRuntime {
  if (!configured) {
    configured = true;
    interceptNextInstantiate(ortWasmModule);
    ort.env.wasm.numThreads = 1; // no SharedArrayBuffer threads in Workers
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = new Uint8Array(0); // stops ORT from fetching the binary; we supply the module
  }
  return ort as unknown as OrtRuntime;
}

function interceptNextInstantiate(module: WebAssembly.Module): void {
  const original = WebAssembly.instantiate.bind(WebAssembly);
  const patched = async (_source: unknown, imports?: WebAssembly.Imports) => {
    WebAssembly.instantiate = original;
    const instance = await original(module, imports);
    return { instance, module };
  };
  WebAssembly.instantiate = patched as unknown as typeof WebAssembly.instantiate;
}
