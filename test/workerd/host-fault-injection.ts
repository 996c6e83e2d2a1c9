/**
 * @module Faults of a real ModelHost, made in workerd: its object reset under a request (as the
 * runtime resets a broken one), or its `infer` answering 500 (a bug of the host's own, which no
 * input can provoke on purpose, so the one method is replaced on the class for a named replica;
 * the call still crosses the real RPC boundary and every other replica runs the real code). The
 * Durable Objects run in the test's isolate, so the class the test imports is theirs.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import type { HostInferCall } from "../../durable-objects/model-host/contract.ts";
import { ModelHost } from "../../durable-objects/model-host/model-host.ts";
import { HttpError } from "../../protocol/errors.ts";

/** The ModelHost object name the router uses for `model`'s replica in this test region. */
export const hostName = (model: string, replica: number): string => `enam:${model}:${replica}`;

/** Resets the object of `model`'s replica, as the runtime does to a broken one. */
export async function resetReplica(model: string, replica: number): Promise<void> {
  const host = env.MODEL_HOST.get(env.MODEL_HOST.idFromName(hostName(model, replica)));
  await runInDurableObject(host, (_instance, state) => {
    try {
      state.abort("reset by the test");
    } catch {
      // abort() throws in the caller too: the object is gone, which is what the test wants.
    }
  }).catch(() => undefined);
}

export interface BrokenHosts {
  /** Calls the broken replicas answered with their 500. */
  readonly calls: number;
  restore(): void;
}

/** Makes `model`'s `replicas` answer every inference with a 500 reply until `restore()` (one at a time: it replaces the method). */
export function answer500(model: string, replicas: number[]): BrokenHosts {
  const broken = new Set(replicas.map((replica) => hostName(model, replica)));
  const real = ModelHost.prototype.infer;
  let calls = 0;
  const spy = vi.spyOn(ModelHost.prototype, "infer").mockImplementation(async function (this: ModelHost, call: HostInferCall) {
    const { ctx } = this as unknown as { ctx: DurableObjectState };
    if (!broken.has(ctx.id.name ?? "")) return real.call(this, call);
    calls += 1;
    return { ok: false, error: new HttpError(500, "inference failed inside the model host").toJSON() };
  });
  return {
    get calls() {
      return calls;
    },
    restore: () => spy.mockRestore(),
  };
}
