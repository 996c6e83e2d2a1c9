/**
 * @module ModelHosts with tight limits (the `tight-host` project in vitest.config.ts) and the
 * fixture models they are sized to. With HOST_MEMORY_BUDGET_MB = 16, by warmSessionBytes:
 * mlp-wide (6.0 MB file) takes 14.0 MB warm, so one fits and a second needs the first's room;
 * mlp-narrow (8.3 MB) takes 18.5 MB, over the budget alone; mlp-tiny takes 2.0 MB, so several
 * versions fit together. HOST_QUEUE_BUDGET_MB = 1 is 1024 rows of mlp-wide's [rows, 256] FP32.
 *
 * The tests call a fresh host by RPC with records they build, after putting the bytes in R2
 * themselves, as the registry would have: what they exercise is the host, and a model the upload
 * route would refuse (one over the budget) can still reach it.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { HostInferCall, HostModel, HostState } from "../../../durable-objects/model-host/contract.ts";
import type { ModelHost } from "../../../durable-objects/model-host/model-host.ts";
import { sha256Hex } from "../../../protocol/sha256.ts";
import type { Tensor } from "../../../protocol/oip/tensor.ts";
import { fixtureBytes } from "../helpers.ts";
import { freshName } from "../refusals.ts";

export const MB = 1024 * 1024;

export type HostStub = DurableObjectStub<ModelHost>;

/** A ModelHost no other test uses. */
export function freshHost(prefix: string): HostStub {
  return hostNamed(`test:${freshName(prefix)}:0`);
}

export function hostNamed(name: string): HostStub {
  return env.MODEL_HOST.getByName(name);
}

/** The fixture `path` (under .hotpath/) stored in R2 as `name` version `version`, described as the registry would. */
export async function storedModel(path: string, name: string, version: string, settings: Partial<HostModel> = {}): Promise<HostModel> {
  const bytes = await fixtureBytes(path);
  const r2Key = `models/${name}/${version}/model.onnx`;
  await env.MODELS.put(r2Key, bytes);
  return { name, version, r2Key, sha256: await sha256Hex(bytes), bytes: bytes.byteLength, maxBatch: 1, maxQueueDelayMs: 0, batchAxes: undefined, ...settings };
}

export const WIDE = "fixtures/mlp-wide.onnx";
export const NARROW = "fixtures/mlp-narrow.onnx";
export const TINY = "models/mlp-tiny/1/model.onnx";

/** `rows` rows of mlp-wide's input: rows * 1 KB. */
export function wideRows(rows: number): Tensor[] {
  return [{ name: "input", datatype: "FP32", shape: [rows, 256], data: Float32Array.from({ length: rows * 256 }, (_, k) => Math.sin(k)) }];
}

/** One row of mlp-tiny's input. */
export function tinyRow(): Tensor[] {
  return [{ name: "input", datatype: "FP32", shape: [1, 16], data: Float32Array.from({ length: 16 }, (_, k) => k / 16) }];
}

/** A premium call of `inputs` on `model` with ten seconds to run. */
export function callOf(model: HostModel, requestId: string, inputs: Tensor[], settings: Partial<HostInferCall> = {}): HostInferCall {
  return { model, inputs, outputNames: ["output"], requestId, tenant: "t", priority: 1, deadline: Date.now() + 10_000, maxQueueWaitMs: 10_000, ...settings };
}

export async function stateOf(host: HostStub): Promise<HostState> {
  return (await host.state()) as HostState;
}

/** Polls the host's state until `ready` holds of it (at most `timeoutMs`). */
export async function until(host: HostStub, what: string, ready: (state: HostState) => boolean, timeoutMs = 10_000): Promise<HostState> {
  const started = Date.now();
  for (;;) {
    const state = await stateOf(host);
    if (ready(state)) return state;
    expect(Date.now() - started, `waited for: ${what}`).toBeLessThan(timeoutMs);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The versions the host holds a session for, in its order. */
export const versionsHeld = (state: HostState): string[] => state.sessions.map((s) => s.version);
