/**
 * @module A variant placed on the origin pool, through its life: its upload stages it in the
 * registry (so an origin asked to load it can fetch its bytes through the internal route before it
 * is proven), every usable origin loads it under its served version (`<version>~<variant>`,
 * protocol/model-record.ts servedVersion), and the first to succeed proves it loads and gives its
 * signature. A failed upload discards the staged row and has the origins unload what they loaded;
 * deleting the variant, or its version, unloads it the same way. An `auto` variant is loaded by an
 * edge host at upload, as an `auto` version is, and by the origins it is assigned to.
 */
import type { Context } from "hono";
import { servedVersion, type ModelVersionRecord, type VariantRecord } from "../../protocol/model-record.ts";
import { unwrapReply } from "../../protocol/rpc-reply.ts";
import type { AppEnv } from "../app-env.ts";
import { registry } from "../catalog.ts";
import { loadOnPool, unloadOnPool, type OriginSignature } from "../origin-pool/origin-admin.ts";

type PoolVariant = ModelVersionRecord & { variant: string };

/** Records the upload's variant for the origins to fetch; 404 (the version went) or 409 (the name is taken) from the registry. */
export async function stageVariant(env: Env, variant: PoolVariant): Promise<void> {
  const { name, version, r2Key, sha256, bytes, placement } = variant;
  unwrapReply(await registry(env).stageVariant(name, version, { variant: variant.variant, r2Key, sha256, bytes, placement }));
}

/** Every usable origin loads the variant under its served version; the first to succeed gives its signature. */
export function loadVariantOnPool(env: Env, variant: PoolVariant): Promise<OriginSignature> {
  return loadOnPool(env, variant.name, servedVersion(variant));
}

/**
 * After a failed upload: the staged row goes (only this upload's, told apart by its R2 key), and
 * the origins are told, in the background, to unload what they loaded. Safe, since the stage was
 * this upload's alone: no other variant of this name was registered or being added.
 */
export async function discardVariantOnPool(c: Context<AppEnv>, variant: PoolVariant): Promise<void> {
  const { name, version, r2Key } = variant;
  // Its own failure is logged, never put in place of the upload's error.
  await registry(c.env)
    .discardStagedVariant(name, version, variant.variant, r2Key)
    .catch((error: unknown) => console.error(`discarding variant ${variant.variant} of ${name}@${version} failed`, error));
  c.executionCtx.waitUntil(unloadOnPool(c.env, name, servedVersion(variant)));
}

/**
 * Origins keep sessions by served version: each variant of `version` that may run on the pool is
 * unloaded from every origin, in the background (an origin down or slow must not fail a delete
 * already made; one that misses it keeps the session until it restarts without it).
 */
export function unloadVariantsOnPool(
  c: Context<AppEnv>,
  name: string,
  version: string,
  variants: readonly Pick<VariantRecord, "variant" | "placement">[],
): void {
  for (const v of variants) {
    if (v.placement !== "edge") c.executionCtx.waitUntil(unloadOnPool(c.env, name, servedVersion({ version, variant: v.variant })));
  }
}
