/**
 * @module `POST /v2/models/{m}[/versions/{v}]/infer`: authenticate, resolve the version, check
 * the tensors against the model's signature, run on the region's ModelHost, encode the answer
 * (JSON or the binary extension) with Server-Timing and x-served-by.
 */
import { Hono, type Context } from "hono";
import { HttpError } from "../../protocol/errors.ts";
import { parseInferRequest } from "../../protocol/infer-request.ts";
import { encodeInferResponse } from "../../protocol/infer-response.ts";
import { checkInputs, selectOutputs } from "../../protocol/tensor-check.ts";
import type { AppEnv } from "../app-env.ts";
import { resolveVersion } from "../catalog.ts";
import { limitsOf } from "../limits.ts";
import { inferenceHeaderLength, readBodyLimited } from "../middleware/read-body.ts";
import { tenantAuth } from "../middleware/tenant-auth.ts";
import { modelHostFor } from "../placement/model-host.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import { regionOf } from "../placement/region.ts";
import { mayUseModel } from "../tenants/records.ts";

export const oipInferRoutes = new Hono<AppEnv>();

oipInferRoutes.post("/v2/models/:model/infer", tenantAuth, (c) => infer(c, undefined));
oipInferRoutes.post("/v2/models/:model/versions/:version/infer", tenantAuth, (c) => infer(c, c.req.param("version")));

async function infer(c: Context<AppEnv>, version: string | undefined): Promise<Response> {
  const timing = c.get("timing");
  const name = c.req.param("model") ?? "";
  const model = await resolveVersion(c.env, name, version);
  if (!mayUseModel(c.get("tenant"), name)) throw new HttpError(403, `this key may not use model '${name}'`);
  if (model.placement === "origin") {
    throw new HttpError(503, `model '${name}' runs on the origin pool, and no origin is configured`, 30);
  }

  const limits = limitsOf(c.env);
  const body = await readBodyLimited(c.req.raw, limits.maxInferBodyBytes);
  const request = parseInferRequest(body, inferenceHeaderLength(c.req.raw), { maxTensorElements: limits.maxTensorElements, maxInputs: 64 });
  checkInputs(request.inputs, model.inputs, { maxBatch: model.maxBatch });
  const outputs = selectOutputs(request.outputs, model.outputs, request.binaryByDefault);

  const host = modelHostFor(c.env, regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined), name);
  const reply = await timing.measure("host", async () =>
    unwrapReply(await host.stub.infer({ model, inputs: request.inputs, outputNames: outputs.map((o) => o.name) })),
  );
  const { loadMs, queueMs, inferMs } = reply.timing;
  if (loadMs > 0) timing.add("load", loadMs);
  timing.add("queue", queueMs);
  timing.add("infer", inferMs);

  const encoded = encodeInferResponse(
    { modelName: name, modelVersion: model.version, id: request.id, outputs: reply.outputs },
    { outputs, binaryByDefault: request.binaryByDefault },
  );
  const headers = new Headers({ "content-type": encoded.contentType, "x-served-by": `edge:${host.region}/${host.replica}` });
  if (encoded.headerLength !== undefined) headers.set("inference-header-content-length", String(encoded.headerLength));
  headers.set("server-timing", timing.header());
  return new Response(encoded.body, { status: 200, headers });
}
