/**
 * @module fp16 weights: each MatMul/Gemm weight is stored as float16 and a Cast node turns it back
 * into the float32 the node reads, so the graph computes in fp32 as before and runs on every
 * onnxruntime build (the CPU and wasm kernels for MatMul/Gemm in fp16 are not in all of them).
 * The file halves; a session folds the Cast at creation and holds fp32 weights, so this saves
 * storage and transfer, not session memory (int8 does both).
 */
import { floatsToHalves, isHalfNonFinite } from "../../protocol/oip/fp16.ts";
import { DataType, type Graph, type Node, initializer, intAttribute, node } from "./onnx-graph.ts";
import { type Skipped, nameAllocator, nodeLabel, weightUses } from "./weight-nodes.ts";

export function quantizeGraphFp16(graph: Graph): { quantized: string[]; skipped: Skipped[] } {
  const { uses, skipped } = weightUses(graph, false);
  const fresh = nameAllocator(graph);
  const casts: Node[] = [];
  const newInitializers = [];
  const converted = new Set<string>();
  const quantized: string[] = [];
  for (const use of uses) {
    const name = use.weight.name ?? "";
    const label = nodeLabel(use.node, use.index);
    if (converted.has(name)) {
      quantized.push(label);
      continue;
    }
    const halves = floatsToHalves(use.values);
    // A finite weight beyond fp16's range would come back as infinity: that one stays fp32.
    if (halves.some((bits, i) => isHalfNonFinite(bits) && Number.isFinite(use.values[i]!))) {
      skipped.push({ node: label, reason: `weight ${name} has values beyond fp16's range (65504)` });
      continue;
    }
    const halfName = fresh(`${name}_fp16`);
    newInitializers.push(initializer(halfName, DataType.FLOAT16, use.dims, halves));
    // The Cast writes the weight's own name, so the MatMul/Gemm and anything else reading it are unchanged.
    casts.push(node("Cast", [halfName], [name], fresh(`${name}_Cast`), [intAttribute("to", DataType.FLOAT)]));
    converted.add(name);
    quantized.push(label);
  }
  // The fp32 initializer goes first, so that its name is free for the Cast's output.
  graph.initializer = (graph.initializer ?? []).filter((t) => !converted.has(t.name ?? ""));
  graph.initializer.push(...newInitializers);
  graph.node = [...casts, ...(graph.node ?? [])];
  return { quantized, skipped };
}
