/**
 * @module Model variants through the admin API: `PUT /admin/models/{m}/versions/{v}/variants/{variant}`
 * uploads other bytes of a version (int8, fp16, ...) and `DELETE` removes them. An upload follows a
 * version upload's discipline (model-upload.ts: Content-Length checked before a byte is read, the
 * bytes streamed to R2 while hashed, proven to run where the variant is placed: an `edge` or `auto`
 * one on a ModelHost; an `origin` one on the origins, which load it under its served version
 * `<version>~<variant>` (router/variants/pool-variant.ts), then must match the version's signature
 * (400) and pass the accuracy guard (router/variants/accuracy.ts): the probe inputs run through the
 * variant and the default, each where it is placed, the error is recorded, and a variant over the
 * uploader's `max_error` is refused with 422. Only then does the registry add it, with one KV
 * write. Whatever fails leaves nothing behind: no registry row, no R2 object, no session on a host
 * or an origin.
 */
import type { Context } from "hono";
import { badRequest, HttpError } from "../../protocol/errors.ts";
import { PLACEMENTS, RESERVED_VARIANTS, type ModelVersionRecord, type Placement, type VariantRecord } from "../../protocol/model-record.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import { signatureMismatch } from "../../protocol/variant-accuracy.ts";
import type { AppEnv } from "../app-env.ts";
import { invalidateCatalog, registry, registryModel } from "../catalog.ts";
import { modelHostFor } from "../placement/model-host.ts";
import { regionOf } from "../placement/region.ts";
import { variantAsVersion } from "../placement/variant-choice.ts";
import { measureVariant, probesFor } from "../variants/accuracy.ts";
import { discardVariantOnPool, loadVariantOnPool, stageVariant, unloadVariantsOnPool } from "../variants/pool-variant.ts";
import { hostModelOf } from "./edge-call.ts";
import { bestEffort, checkedInt, checkedName, declaredLength, deleteObject, refuseIfTooLargeToKeepWarm, storeUpload } from "./model-upload.ts";

const DEFAULT_PROBES = 16;
const MAX_PROBES = 256;

export async function uploadVariant(c: Context<AppEnv>): Promise<Response> {
  const name = checkedName(c.req.param("name") ?? "", "model name");
  const versionName = checkedName(c.req.param("version") ?? "", "version");
  const variantName = checkedVariantName(c.req.param("variant") ?? "");
  const placement = checkedVariantPlacement(c.req.query("placement"));
  const maxError = checkedBound(c.req.query("max_error"));
  const probeCount = checkedInt(c.req.query("probes"), "probes", 1, MAX_PROBES, DEFAULT_PROBES);
  const bytes = declaredLength(c);
  refuseIfTooLargeToKeepWarm(c.env, placement, bytes);
  const version = await settledVersion(c.env, name, versionName);
  if (version.variants?.some((v) => v.variant === variantName)) {
    throw new HttpError(409, `version '${versionName}' of model '${name}' already has variant '${variantName}'; delete it first`);
  }
  // Malformed probes are refused before a byte is stored.
  const probes = probesFor(c, version, probeCount);
  const { r2Key, sha256 } = await storeUpload(c, `models/${name}/${versionName}/variants/${variantName}`, bytes);
  const variant = { ...variantAsVersion(version, { variant: variantName, r2Key, sha256, bytes, placement }), variant: variantName };
  const host = modelHostFor(c.env, regionOf(c.req.raw.cf as IncomingRequestCfProperties | undefined), name);
  const onPool = placement === "origin";
  if (onPool) await stageVariant(c.env, variant).catch(async (error: unknown) => (await deleteObject(c.env, r2Key), Promise.reject(error)));
  try {
    // Proven where it runs first: the origins (which read the signature) or an edge host (edge and auto).
    const signature = onPool ? await loadVariantOnPool(c.env, variant) : unwrapReply(await host.stub.inspect(hostModelOf(variant)));
    const mismatch = signatureMismatch(version, signature);
    if (mismatch) throw badRequest(`variant '${variantName}' does not match version '${versionName}' of model '${name}': its ${mismatch}`);
    const accuracy = await measureVariant(c, host, variant, version, probes);
    if (maxError !== undefined && !(accuracy.maxAbsError <= maxError)) {
      throw new HttpError(
        422,
        `variant '${variantName}' is off by up to ${accuracy.maxAbsError} on ${accuracy.probes} probes, over max_error=${maxError}; it was not added`,
      );
    }
    const entry: VariantRecord = { variant: variantName, r2Key, sha256, bytes, placement, accuracy, maxError: maxError ?? null, createdAt: Date.now() };
    const record = unwrapReply(await registry(c.env).addVariant(name, versionName, version.sha256, entry));
    invalidateCatalog(name);
    return c.json({ name, version: versionName, variant: entry, variants: record.versions.find((v) => v.version === versionName)?.variants ?? [] }, 201);
  } catch (error) {
    if (onPool) await discardVariantOnPool(c, variant);
    // Sessions are keyed by sha256: bytes identical to the default's are the default's own session, which stays.
    else if (sha256 !== version.sha256)
      await bestEffort(`dropping variant ${variantName} of ${name}@${versionName} from ${host.name}`, () => host.stub.drop(name, versionName, sha256));
    await deleteObject(c.env, r2Key);
    throw error;
  }
}

/**
 * Published without the variant at once; its bytes stay in R2 until no router can route to them
 * (`bytesRemovedAt`). Hosts drop its session (the registry tells them); origins are told to unload
 * one that may run there, in the background.
 */
export async function deleteVariant(c: Context<AppEnv>): Promise<Response> {
  const name = c.req.param("name") ?? "";
  const version = c.req.param("version") ?? "";
  const removed = unwrapReply(await registry(c.env).removeVariant(name, version, c.req.param("variant") ?? ""));
  invalidateCatalog(name);
  unloadVariantsOnPool(c, name, version, [removed]);
  return c.json({ deleted: { name, version, variant: removed.variant }, bytesRemovedAt: new Date(removed.bytesRemovedAt).toISOString() });
}

/** The version the variant is of, from the registry itself: 404 unknown, 409 while its own upload is still adding it. */
async function settledVersion(env: Env, name: string, version: string): Promise<ModelVersionRecord> {
  const record = (await registryModel(env, name))?.versions.find((v) => v.version === version);
  if (!record) throw new HttpError(404, `unknown version '${version}' of model '${name}'`);
  if (record.state === "warming") throw new HttpError(409, `version '${version}' of model '${name}' is still being added; upload its variants after`);
  return record;
}

function checkedVariantName(value: string): string {
  checkedName(value, "variant name");
  if (RESERVED_VARIANTS.includes(value))
    throw badRequest(`variant name '${value}' is reserved: 'default' is the version itself, 'auto' lets the router choose`);
  return value;
}

function checkedVariantPlacement(value: string | undefined): Placement {
  if (value === undefined) return "edge";
  if (!PLACEMENTS.includes(value as Placement)) throw badRequest(`placement must be one of ${PLACEMENTS.join(", ")}, got '${value}'`);
  return value as Placement;
}

/** The uploader's bound on the variant's max absolute error: a finite number from 0. */
function checkedBound(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw badRequest(`max_error must be a number from 0, got '${value}'`);
  return n;
}
