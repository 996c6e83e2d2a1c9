/**
 * @module Dynamic int8 quantisation of MatMul/Gemm weights, in the form onnxruntime's
 * quantize_dynamic emits and both onnxruntime-web (wasm) and -node run:
 *
 *   A -> DynamicQuantizeLinear -> (A_q uint8, A_scale, A_zero)
 *   MatMulInteger(A_q, W_q, A_zero, W_zero) -> int32 -> Cast(float) -> Mul(A_scale * W_scale) [-> Add(bias)]
 *
 * The weights stay 8-bit inside the session: MatMulInteger reads them as they are, whereas a QDQ
 * graph (DequantizeLinear on a constant weight) is constant-folded back to fp32 when the session
 * is created, which would give the file's saving back in memory on an edge host.
 *
 * Weights are symmetric per output column (scale_j = max_i |W_ij| / 127), stored as uint8 around a
 * zero point of 128. uint8 rather than int8 because onnxruntime's x86 AVX2 kernel for uint8 x int8
 * (the machines without VNNI) sums pairs of products into int16 and saturates, silently; uint8 x
 * uint8 widens to 16 bits first and is exact on every CPU and in wasm.
 */
import { DataType, type Graph, type Node, initializer, intAttribute, node, numberAttribute } from "./onnx-graph.ts";
import { type Skipped, type WeightUse, dropUnread, nameAllocator, nodeLabel, weightUses } from "./weight-nodes.ts";

const WEIGHT_ZERO_POINT = 128;
const LEVELS = 127;

interface QuantizedWeight {
  /** [K, N], uint8 around WEIGHT_ZERO_POINT. */
  values: Uint8Array;
  /** Per output column. */
  scales: Float32Array;
  k: number;
  n: number;
}

/** Quantises a weight to [K, N] uint8 per column; a Gemm weight with transB ([N, K]) is transposed here. */
export function quantizeWeight(values: Float32Array, dims: number[], transposed: boolean, alpha = 1): QuantizedWeight {
  const [rows, columns] = dims as [number, number];
  const k = transposed ? columns : rows;
  const n = transposed ? rows : columns;
  const at = transposed ? (i: number, j: number) => values[j * columns + i]! : (i: number, j: number) => values[i * columns + j]!;
  const scales = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let max = 0;
    for (let i = 0; i < k; i++) max = Math.max(max, Math.abs(at(i, j)));
    // A column of zeros still needs a scale onnxruntime can multiply by; any positive one is exact.
    scales[j] = max > 0 ? max / LEVELS : 1;
  }
  const quantized = new Uint8Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const q = Math.round(at(i, j) / scales[j]!);
      quantized[i * n + j] = WEIGHT_ZERO_POINT + Math.max(-LEVELS, Math.min(LEVELS, q));
    }
  }
  // Gemm's alpha scales the product; folded into the weight's scales, it costs nothing at run time.
  if (alpha !== 1) for (let j = 0; j < n; j++) scales[j] = scales[j]! * alpha;
  return { values: quantized, scales, k, n };
}

/** Why a Gemm cannot become MatMulInteger + Add, or undefined when it can. */
function gemmRefusal(n: Node): string | undefined {
  const beta = numberAttribute(n, "beta", 1);
  if ((n.input ?? []).length > 2 && n.input![2] !== "" && beta !== 1) return `Gemm with beta ${beta} on its bias`;
  return undefined;
}

export function quantizeGraphInt8(graph: Graph): { quantized: string[]; skipped: Skipped[] } {
  const found = weightUses(graph, true);
  const skipped = [...found.skipped];
  const uses: WeightUse[] = [];
  for (const use of found.uses) {
    const refusal = use.node.opType === "Gemm" ? gemmRefusal(use.node) : undefined;
    if (refusal) skipped.push({ node: nodeLabel(use.node, use.index), reason: refusal });
    else uses.push(use);
  }
  const fresh = nameAllocator(graph);
  const replacements = new Map<number, Node[]>();
  const newInitializers = [];
  /** One DynamicQuantizeLinear per activation, however many nodes read it. */
  const quantizedActivations = new Map<string, [string, string, string]>();
  /** One quantised copy per weight and layout (transB, alpha), however many nodes read it. */
  const quantizedWeights = new Map<string, [string, string, string]>();

  for (const use of uses) {
    const n = use.node;
    const label = nodeLabel(n, use.index);
    const [activation, weightName] = [n.input![0]!, n.input![1]!];
    const output = n.output![0]!;
    const isGemm = n.opType === "Gemm";
    const transposed = isGemm && numberAttribute(n, "transB", 0) !== 0;
    const alpha = isGemm ? numberAttribute(n, "alpha", 1) : 1;
    const nodes: Node[] = [];

    let activationNames = quantizedActivations.get(activation);
    if (!activationNames) {
      activationNames = [fresh(`${activation}_quantized`), fresh(`${activation}_scale`), fresh(`${activation}_zero_point`)];
      nodes.push(node("DynamicQuantizeLinear", [activation], activationNames, fresh(`${activation}_DynamicQuantizeLinear`)));
      quantizedActivations.set(activation, activationNames);
    }
    const weightKey = `${weightName}|${transposed}|${alpha}`;
    let weightNames = quantizedWeights.get(weightKey);
    if (!weightNames) {
      const q = quantizeWeight(use.values, use.dims, transposed, alpha);
      weightNames = [fresh(`${weightName}_quantized`), fresh(`${weightName}_scale`), fresh(`${weightName}_zero_point`)];
      newInitializers.push(
        initializer(weightNames[0], DataType.UINT8, [q.k, q.n], q.values),
        initializer(weightNames[1], DataType.FLOAT, [q.n], q.scales),
        initializer(weightNames[2], DataType.UINT8, [q.n], new Uint8Array(q.n).fill(WEIGHT_ZERO_POINT)),
      );
      quantizedWeights.set(weightKey, weightNames);
    }
    const [aQuantized, aScale, aZero] = activationNames;
    const [wQuantized, wScale, wZero] = weightNames;
    const scale = fresh(`${label}_scale`);
    const integer = fresh(`${label}_integer`);
    const asFloat = fresh(`${label}_float`);
    const hasBias = isGemm && (n.input ?? []).length > 2 && n.input![2] !== "";
    const product = hasBias ? fresh(`${label}_product`) : output;
    nodes.push(
      node("Mul", [aScale, wScale], [scale], fresh(`${label}_scale_Mul`)),
      node("MatMulInteger", [aQuantized, wQuantized, aZero, wZero], [integer], fresh(`${label}_MatMulInteger`)),
      node("Cast", [integer], [asFloat], fresh(`${label}_Cast`), [intAttribute("to", DataType.FLOAT)]),
      node("Mul", [asFloat, scale], [product], fresh(`${label}_Mul`)),
    );
    if (hasBias) nodes.push(node("Add", [product, n.input![2]!], [output], fresh(`${label}_bias_Add`)));
    replacements.set(use.index, nodes);
  }

  graph.node = (graph.node ?? []).flatMap((n, index) => replacements.get(index) ?? [n]);
  graph.initializer = [...(graph.initializer ?? []), ...newInitializers];
  dropUnread(graph, new Set(uses.map((u) => u.weight.name ?? "")));
  return { quantized: uses.map((u) => nodeLabel(u.node, u.index)), skipped };
}
