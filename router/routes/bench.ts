/**
 * @module The benchmark's baseline path: Hono -> ModelHost -> session.run with no auth, no
 * rate limits, no deadline, no queue. Off unless the BENCH_ROUTES var is "1" (the benchmark's
 * own wrangler dev sets it); answers 404 otherwise, like any unknown route.
 */
import { Hono } from "hono";
import { HttpError } from "../../protocol/errors.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { encodeInferResponse } from "../../protocol/oip/infer-response.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import type { AppEnv } from "../app-env.ts";
import { resolveVersion } from "../catalog.ts";
import { limitsOf } from "../limits.ts";
import { modelHostFor } from "../placement/model-host.ts";
import { regionOf } from "../placement/region.ts";

export const benchRoutes = new Hono<AppEnv>();

benchRoutes.post("/bench/bare/:model/infer", async (c) => {
  if (c.env.BENCH_ROUTES !== "1") throw new HttpError(404, `no route for POST ${new URL(c.req.url).pathname}`);
  const name = c.req.param("model");
  const model = await resolveVersion(c.env, name, undefined);
  const limits = limitsOf(c.env);
  const request = parseInferRequest(new Uint8Array(await c.req.arrayBuffer()), undefined, { maxTensorElements: limits.maxTensorElements, maxInputs: 64 });
  const outputs = model.outputs.map((o) => ({ name: o.name, binary: false }));
  const host = modelHostFor(c.env, regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined), name);
  const tensors = unwrapReply(
    await host.stub.runBare(
      model,
      request.inputs,
      outputs.map((o) => o.name),
    ),
  );
  const encoded = encodeInferResponse({ modelName: name, modelVersion: model.version, outputs: tensors }, { outputs, binaryByDefault: false });
  return new Response(encoded.body, { headers: { "content-type": encoded.contentType } });
});
