/**
 * @module The ModelHost stub for a model in a region. One object per (region, model, replica);
 * replica 0 until the scheduler spreads load over more.
 */
import type { ModelHost } from "../../durable-objects/model-host/model-host.ts";

export interface HostChoice {
  name: string;
  region: string;
  replica: number;
  stub: DurableObjectStub<ModelHost>;
}

export function modelHostFor(env: Env, region: DurableObjectLocationHint, model: string, replica = 0): HostChoice {
  const name = `${region}:${model}:${replica}`;
  const stub = env.MODEL_HOST.get(env.MODEL_HOST.idFromName(name), { locationHint: region });
  return { name, region, replica, stub };
}
