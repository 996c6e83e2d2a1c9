/** @module Zero-filled inputs for warming a model: the first run pays one-time costs (allocations, kernel choice) so no client does. */
import type { BatchAxes } from "../protocol/batching.ts";
import { BYTES_PER_ELEMENT, typedArrayFor } from "../protocol/oip/datatypes.ts";
import { elementCount, type Tensor, type TensorSpec } from "../protocol/oip/tensor.ts";

/**
 * Zeros of `rows` rows for every input, or undefined when a dimension other than the batch is
 * dynamic (e.g. PP-OCR's line width): then no single shape is representative, and the model is
 * only loaded.
 *
 * @example
 * zeroInputs([{ name: "input", datatype: "FP32", shape: [-1, 1024] }], { inputs: { input: 0 }, outputs: {} }, 64)
 * // [{ name: "input", datatype: "FP32", shape: [64, 1024], data: Float32Array(65536) }]
 */
export function zeroInputs(specs: readonly TensorSpec[], axes: BatchAxes | undefined, rows: number): Tensor[] | undefined {
  const tensors: Tensor[] = [];
  for (const spec of specs) {
    const axis = axes?.inputs[spec.name];
    const shape: number[] = [];
    for (const [i, dim] of spec.shape.entries()) {
      if (dim >= 0) shape.push(dim);
      else if (i === axis) shape.push(rows);
      else return undefined;
    }
    const count = elementCount(shape);
    const data =
      spec.datatype === "BYTES" ? new Array<string>(count).fill("") : typedArrayFor(spec.datatype, new ArrayBuffer(count * BYTES_PER_ELEMENT[spec.datatype]));
    tensors.push({ name: spec.name, datatype: spec.datatype, shape, data });
  }
  return tensors;
}
