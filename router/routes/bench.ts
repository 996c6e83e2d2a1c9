/**
 * @module The benchmark's baseline path: Hono -> ModelHost -> session.run with no auth, no
 * rate limits, no deadline, no queue, and its stages on their own, so the benchmark can say where
 * a request's CPU goes: `/bench/parse/:model` stops after reading and parsing the body,
 * `?runs=0` makes the host call without running the model, `?runs=2` runs it twice in the one
 * call; `/bench/warm/:model?replica=N` warms replica N of the model's default version, as the
 * replica set does before a new replica takes traffic, and drops its session once answered. Off
 * unless the BENCH_ROUTES var is "1" (the benchmark's stacks set it); answers 404 otherwise, like
 * any unknown route.
 */
import { Hono, type Context } from "hono";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { encodeInferResponse } from "../../protocol/oip/infer-response.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import type { AppEnv } from "../app-env.ts";
import { resolveVersion } from "../catalog.ts";
import { limitsOf } from "../limits.ts";
import { modelHostFor } from "../placement/model-host.ts";
import { regionOf } from "../placement/region.ts";

export const benchRoutes = new Hono<AppEnv>();

/** Runs of the model in one bare call at most: enough to see a run's marginal cost, too few to tie up a host. */
const MAX_BARE_RUNS = 4;

/** The body read and parsed as the bare path does, with the model's record: nothing else. */
async function parsed(c: Context<AppEnv>) {
  if (c.env.BENCH_ROUTES !== "1") throw new HttpError(404, `no route for POST ${new URL(c.req.url).pathname}`);
  const name = c.req.param("model") ?? "";
  const model = await resolveVersion(c.env, name, undefined);
  const limits = limitsOf(c.env);
  const request = parseInferRequest(new Uint8Array(await c.req.arrayBuffer()), undefined, { maxTensorElements: limits.maxTensorElements, maxInputs: 64 });
  return { name, model, request };
}

benchRoutes.post("/bench/parse/:model", async (c) => {
  const { request } = await parsed(c);
  return c.json({ inputs: request.inputs.length });
});

benchRoutes.post("/bench/bare/:model/infer", async (c) => {
  const { name, model, request } = await parsed(c);
  const runsParam = c.req.query("runs") ?? "1";
  const runs = Number(runsParam);
  if (!/^\d+$/.test(runsParam) || runs > MAX_BARE_RUNS) throw badRequest(`runs must be an integer from 0 to ${MAX_BARE_RUNS}, got '${runsParam.slice(0, 20)}'`);
  const outputs = model.outputs.map((o) => ({ name: o.name, binary: false }));
  const host = modelHostFor(c.env, regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined), name);
  const tensors = unwrapReply(
    await host.stub.runBare(
      model,
      request.inputs,
      outputs.map((o) => o.name),
      runs,
    ),
  );
  const encoded = encodeInferResponse({ modelName: name, modelVersion: model.version, outputs: tensors }, { outputs, binaryByDefault: false });
  return new Response(encoded.body, { headers: { "content-type": encoded.contentType } });
});

/**
 * Replicas the warm route may name: above any model's max_replicas, so each is a new object, and
 * few, as the registry keeps each one it warmed among the model's hosts.
 */
const BENCH_REPLICAS = { first: 1_000, last: 1_099 };

benchRoutes.post("/bench/warm/:model", async (c) => {
  if (c.env.BENCH_ROUTES !== "1") throw new HttpError(404, `no route for POST ${new URL(c.req.url).pathname}`);
  const name = c.req.param("model");
  const replicaParam = c.req.query("replica") ?? "";
  const replica = Number(replicaParam);
  if (!/^\d{1,4}$/.test(replicaParam) || replica < BENCH_REPLICAS.first || replica > BENCH_REPLICAS.last) {
    throw badRequest(`replica must be an integer from ${BENCH_REPLICAS.first} to ${BENCH_REPLICAS.last}`);
  }
  const model = await resolveVersion(c.env, name, undefined);
  const host = modelHostFor(c.env, regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined), name, replica);
  const state = unwrapReply(await host.stub.warm(model));
  // Not a replica the set will use: its session is freed once the answer has gone. (The registry
  // still counts it among the model's hosts, so a version swap would warm it: bench stacks only.)
  c.executionCtx.waitUntil(host.stub.drop(model.name, model.version).catch(() => false));
  return c.json({ replica, sessions: state.sessions.filter((s) => s.model === name).length });
});
