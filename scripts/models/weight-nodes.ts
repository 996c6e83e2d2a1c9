/**
 * @module Which nodes of a graph multiply by a constant weight matrix (MatMul, Gemm) that the
 * quantiser may rewrite, and the bookkeeping both modes share: unique names for new values, and
 * dropping the fp32 weights nothing reads any more.
 */
import { type Graph, type Node, type Tensor, floatValues, numberAttribute, tensorDims } from "./onnx-graph.ts";

export interface WeightUse {
  /** Index of the node in graph.node. */
  index: number;
  node: Node;
  weight: Tensor;
  /** The weight's values and dims as stored (Gemm with transB: [N, K]). */
  values: Float32Array;
  dims: number[];
}

export interface Skipped {
  node: string;
  reason: string;
}

/** A node that reads a subgraph (If, Loop, Scan) may read any outer name: its weights are left alone. */
function namesReadBySubgraphs(graph: Graph): Set<string> {
  const names = new Set<string>();
  const visit = (g: Graph) => {
    for (const n of g.node ?? []) {
      for (const attribute of n.attribute ?? []) {
        for (const sub of [attribute.g, ...(attribute.graphs ?? [])]) {
          if (!sub) continue;
          for (const inner of sub.node ?? []) for (const input of inner.input ?? []) names.add(input);
          visit(sub);
        }
      }
    }
  };
  visit(graph);
  return names;
}

export const nodeLabel = (n: Node, index: number): string => n.name || `${n.opType}#${index}`;

/**
 * The MatMul and Gemm nodes whose second input is a float initializer stored in the file, each with
 * why not when it cannot be rewritten. `rank2` limits weights to matrices (int8: MatMulInteger's B).
 */
export function weightUses(graph: Graph, rank2: boolean): { uses: WeightUse[]; skipped: Skipped[] } {
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? "", t]));
  const graphInputs = new Set((graph.input ?? []).map((i) => i.name));
  const subgraphReads = namesReadBySubgraphs(graph);
  const uses: WeightUse[] = [];
  const skipped: Skipped[] = [];
  (graph.node ?? []).forEach((n, index) => {
    if ((n.opType !== "MatMul" && n.opType !== "Gemm") || (n.domain ?? "") !== "") return;
    const label = nodeLabel(n, index);
    const name = n.input?.[1] ?? "";
    const weight = initializers.get(name);
    const skip = (reason: string) => void skipped.push({ node: label, reason });
    if (!weight) return skip("its weight is not a constant initializer");
    // An initializer that is also a graph input is a default the caller may override.
    if (graphInputs.has(name)) return skip(`weight ${name} is also a graph input`);
    if (subgraphReads.has(name)) return skip(`weight ${name} is read inside a subgraph`);
    const values = floatValues(weight);
    if (!values) return skip(`weight ${name} is not FP32 data stored in the file`);
    const dims = tensorDims(weight);
    if (rank2 && dims.length !== 2) return skip(`weight ${name} has rank ${dims.length}, not 2`);
    if (n.opType === "Gemm" && numberAttribute(n, "transA", 0) !== 0) return skip("Gemm with transA");
    uses.push({ index, node: n, weight, values, dims });
  });
  return { uses, skipped };
}

/** Names not yet used by any value or initializer of the graph (so a rewrite never shadows one). */
export function nameAllocator(graph: Graph): (wanted: string) => string {
  const taken = new Set<string>();
  for (const t of graph.initializer ?? []) taken.add(t.name ?? "");
  for (const v of [...(graph.input ?? []), ...(graph.output ?? [])]) taken.add(v.name ?? "");
  for (const n of graph.node ?? []) for (const v of [...(n.input ?? []), ...(n.output ?? []), n.name ?? ""]) taken.add(v);
  return (wanted) => {
    let name = wanted;
    for (let i = 1; taken.has(name); i++) name = `${wanted}_${i}`;
    taken.add(name);
    return name;
  };
}

/** Removes the initializers in `candidates` that no node reads any more (a weight shared with a skipped node stays). */
export function dropUnread(graph: Graph, candidates: Set<string>): void {
  const read = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
  graph.initializer = (graph.initializer ?? []).filter((t) => !candidates.has(t.name ?? "") || read.has(t.name ?? ""));
}
