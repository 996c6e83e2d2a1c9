/** @module Size limits from the Worker's vars, parsed once per isolate. */
export interface Limits {
  maxInferBodyBytes: number;
  maxUploadBytes: number;
  maxTensorElements: number;
}

export function limitsOf(env: Env): Limits {
  return {
    maxInferBodyBytes: Number(env.MAX_INFER_BODY_BYTES),
    maxUploadBytes: Number(env.MAX_UPLOAD_BYTES),
    maxTensorElements: Number(env.MAX_TENSOR_ELEMENTS),
  };
}
