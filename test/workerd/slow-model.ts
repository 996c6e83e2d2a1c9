/**
 * @module A model slow enough to build real backlogs on this machine: a fresh copy of the
 * mlp-wide fixture (input [rows, 256]) uploaded under its own name, asked with binary tensors (so
 * the router's parsing stays cheap next to the run), and taught its speed by a few runs first.
 * Waits and deadlines in the tests that use it are calibrated to what those runs measured, not to
 * fixed milliseconds.
 */
import { expect } from "vitest";
import { INFERENCE_HEADER_LENGTH_HEADER, TIMEOUT_HEADER } from "../../protocol/headers.ts";
import { encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import { ADMIN, call, fixtureBytes, uploadModel } from "./helpers.ts";
import { freshName } from "./refusals.ts";

/** Rows per request: one run of them takes tens to hundreds of milliseconds here. */
const ROWS = 1024;
const ROW_SIZE = 256;
const TEACHING_RUNS = 3;

export interface SlowModel {
  name: string;
  /** The host's own prediction of one request's run (its mean for that much work), ms. */
  runMs: number;
  /** One request of ROWS rows; `timeoutMs` sets x-hotpath-timeout-ms. */
  infer(key: string, timeoutMs?: number): Promise<Response>;
  /** One request of a single row (a body small enough for every tier). */
  inferOneRow(key: string): Promise<Response>;
}

export async function slowModel(prefix: string, teacherKey: string): Promise<SlowModel> {
  const name = freshName(prefix);
  const upload = await uploadModel(name, "1", await fixtureBytes("fixtures/mlp-wide.onnx"), `?max_batch=${ROWS}`);
  expect(upload.status, await upload.clone().text()).toBe(201);
  const data = Float32Array.from({ length: ROWS * ROW_SIZE }, (_, k) => Math.sin(k));
  const encoded = encodeInferRequest({ inputs: [{ name: "input", datatype: "FP32", shape: [ROWS, ROW_SIZE], data }], binaryByDefault: true }, { binary: true });
  const infer = (key: string, timeoutMs?: number) => {
    const headers: Record<string, string> = { [INFERENCE_HEADER_LENGTH_HEADER]: String(encoded.headerLength) };
    if (timeoutMs !== undefined) headers[TIMEOUT_HEADER] = String(timeoutMs);
    return call(`/v2/models/${name}/infer`, { method: "POST", key, body: encoded.body, headers });
  };
  for (let k = 0; k < TEACHING_RUNS; k++) {
    const response = await infer(teacherKey);
    if (response.status !== 200) throw new Error(`teaching run: ${response.status} ${await response.text()}`);
    await response.arrayBuffer();
  }
  const runMs = await predictedRunMs(name, ROWS * ROW_SIZE);
  expect(runMs, "the host learned the run time").toBeGreaterThan(0);
  const oneRow = JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, ROW_SIZE], data: Array.from(data.subarray(0, ROW_SIZE)) }] });
  const inferOneRow = (key: string) => call(`/v2/models/${name}/infer`, { method: "POST", key, body: oneRow });
  return { name, runMs, infer, inferOneRow };
}

interface ServiceTimes {
  hosts: { serviceTimes: Record<string, { work: number; meanMs: number }[]> }[];
}

/** What the model's host predicts for a run of `work` input elements (its nearest bucket's mean). */
async function predictedRunMs(name: string, work: number): Promise<number> {
  const state = (await (await call(`/admin/models/${name}`, { key: ADMIN })).json()) as ServiceTimes;
  const buckets = state.hosts[0]?.serviceTimes[`${name}@1`] ?? [];
  const nearest = [...buckets].sort((a, b) => Math.abs(a.work - work) - Math.abs(b.work - work))[0];
  return nearest?.meanMs ?? 0;
}
