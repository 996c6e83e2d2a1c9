/**
 * @module The accuracy guard's runs: the probe inputs (the uploader's, from a header, or made from
 * the version's input signature, protocol/probe-inputs.ts) run through a variant and through the
 * version's default bytes, each where it is placed, over the paths requests take: a ModelHost's
 * `infer` (the region's first replica, which has just loaded an edge or auto variant) or the origin
 * pool (inferOnPool, for a default or a variant placed there). Probes queue as the lowest tier with ample time:
 * an upload must not push tenants' work past its deadline.
 */
import type { Context } from "hono";
import { TIER_PRIORITIES } from "../../config/tiers.ts";
import { batchSizeOf } from "../../protocol/batching.ts";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { PROBE_INPUTS_HEADER } from "../../protocol/headers.ts";
import type { ModelVersionRecord, VariantAccuracy } from "../../protocol/model-record.ts";
import { parseInferRequest } from "../../protocol/oip/infer-request.ts";
import { checkInputs } from "../../protocol/oip/tensor-check.ts";
import { elementCount, type Tensor } from "../../protocol/oip/tensor.ts";
import { generateProbeInputs } from "../../protocol/probe-inputs.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import { measureAccuracy } from "../../protocol/variant-accuracy.ts";
import type { AppEnv } from "../app-env.ts";
import { limitsOf } from "../limits.ts";
import { inferOnPool } from "../origin-pool/origin-client.ts";
import type { HostChoice } from "../placement/model-host.ts";
import { hostModelOf } from "../routes/edge-call.ts";

/** Time a probe run may take, queue included: an upload is not in a hurry, but it must end. */
const PROBE_DEADLINE_MS = 30_000;
/** Named in the host's fair share and the origins' logs: the guard's work is nobody's tenant. */
const PROBE_TENANT = "hotpath:accuracy-guard";

export interface Probes {
  inputs: Tensor[];
  count: number;
  source: VariantAccuracy["source"];
}

/**
 * The uploader's probes (PROBE_INPUTS_HEADER, checked against the version's signature like a
 * request), else `count` rows generated from the signature. 400 before any byte is stored when
 * they are malformed or over MAX_TENSOR_ELEMENTS.
 */
export function probesFor(c: Context<AppEnv>, version: ModelVersionRecord, count: number): Probes {
  const maxTensorElements = limitsOf(c.env).maxTensorElements;
  const sent = c.req.header(PROBE_INPUTS_HEADER);
  if (sent !== undefined) {
    const request = parseInferRequest(new TextEncoder().encode(sent), undefined, { maxTensorElements, maxInputs: 64 });
    checkInputs(request.inputs, version.inputs, { maxBatch: Number.MAX_SAFE_INTEGER, modelName: version.name, batchAxes: version.batchAxes });
    const rows = version.batchAxes ? batchSizeOf(request.inputs, version.batchAxes) : 1;
    return { inputs: request.inputs, count: rows, source: "uploaded" };
  }
  const inputs = generateProbeInputs(version.inputs, { count, batchAxes: version.batchAxes });
  const elements = inputs.reduce((sum, t) => sum + elementCount(t.shape), 0);
  if (elements > maxTensorElements) {
    throw badRequest(`${count} generated probes hold ${elements} elements, over the limit of ${maxTensorElements}: ask for fewer (probes=)`);
  }
  return { inputs, count, source: "generated" };
}

/**
 * Runs the probes through the variant and through the default bytes, each where it is placed (an
 * `origin` one on the pool, the others on `host`, which loaded the variant or serves the version),
 * and measures the variant's error against the default.
 */
export async function measureVariant(c: Context<AppEnv>, host: HostChoice, variant: ModelVersionRecord, version: ModelVersionRecord, probes: Probes) {
  const outputNames = version.outputs.map((o) => o.name);
  const [got, want] = await Promise.all([onPlacement(c, host, variant, probes.inputs, outputNames), onPlacement(c, host, version, probes.inputs, outputNames)]);
  return measureAccuracy(got, want, probes.count, probes.source);
}

/** `model` may be a variant's record: the pool addresses it by its served version. */
function onPlacement(c: Context<AppEnv>, host: HostChoice, model: ModelVersionRecord, inputs: Tensor[], outputNames: string[]): Promise<Tensor[]> {
  if (model.placement !== "origin") return onHost(host, model, inputs, outputNames);
  const call = { model, inputs, outputNames, tenant: PROBE_TENANT, priority: lowestPriority(), deadline: Date.now() + PROBE_DEADLINE_MS };
  return probeRun(async () => (await inferOnPool(c.env, call)).outputs);
}

function onHost(host: HostChoice, model: ModelVersionRecord, inputs: Tensor[], outputNames: string[]): Promise<Tensor[]> {
  return probeRun(async () => {
    const reply = await host.stub.infer({
      model: hostModelOf(model),
      inputs,
      outputNames,
      requestId: crypto.randomUUID(),
      tenant: PROBE_TENANT,
      priority: lowestPriority(),
      deadline: Date.now() + PROBE_DEADLINE_MS,
      maxQueueWaitMs: PROBE_DEADLINE_MS,
    });
    return unwrapReply(reply).outputs;
  });
}

/** A probe the model refuses is the uploader's to fix (send other probes); other failures keep their status. */
async function probeRun(run: () => Promise<Tensor[]>): Promise<Tensor[]> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof HttpError && error.status === 400) {
      throw badRequest(`the probe inputs did not run: ${error.message}; send probes that do in the ${PROBE_INPUTS_HEADER} header`);
    }
    throw error;
  }
}

const lowestPriority = (): number => TIER_PRIORITIES.at(-1) ?? 1;
