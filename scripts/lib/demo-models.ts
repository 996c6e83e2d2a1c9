/**
 * @module The demo models `npm start` serves: each prepared version uploaded once (a restart on
 * the same state uploads nothing), then each version's prepared variants (mlp-heavy's int8 copy,
 * placed at the edge), and their sessions warmed before the banner so the first request a user
 * sends does not pay for creating one.
 */
import { resolve } from "node:path";
import type { ManifestEntry, ManifestVariant } from "../prepare-models.ts";
import type { AdminClient, Model } from "./admin-client.ts";
import { createProgress } from "./progress.ts";
import { REPO_ROOT } from "./wrangler-dev.ts";

/**
 * The bound the demo's variants are uploaded with (`max_error`): docs/quantization.md measured
 * mlp-heavy's int8 copy at 3.7e-2 max absolute error on 16 probes (outputs up to about 3.4), so
 * 0.1 leaves almost three times that for other probes and runtimes while still refusing a copy
 * that is broken (a wrong scale is off by the outputs' own size).
 */
export const DEMO_VARIANT_MAX_ERROR = 0.1;
/** A cold variant session (mlp-heavy int8: 25 MB) takes a few seconds to create on a busy machine: premium's longest deadline. */
const WARM_DEADLINE_MS = 10_000;

/** `name@version` and `name@version:variant`, as the progress lines and warnings name them. */
const versionLabel = (entry: ManifestEntry) => `${entry.name}@${entry.version}`;
const variantLabel = (entry: ManifestEntry, variant: ManifestVariant) => `${versionLabel(entry)}:${variant.name}`;

function warnStale(label: string, registered: string, prepared: string, what: string): void {
  console.warn(
    `warning: ${label} is registered with sha256 ${registered.slice(0, 12)}, the prepared file has ${prepared.slice(0, 12)}; delete the ${what} to re-upload it`,
  );
}

/** Uploads with a progress line, which says `failed` before the error goes up. */
async function withProgress<T>(label: string, bytes: number, upload: (onProgress: (sent: number) => void) => Promise<T>, done: (result: T) => string) {
  const progress = createProgress({ label: `uploading ${label}`, total: bytes });
  try {
    progress.finish(done(await upload((sent) => progress.update(sent))));
  } catch (error) {
    progress.finish("failed");
    throw error;
  }
}

/**
 * Uploads each version the registry lacks, then each variant its version lacks; what is already
 * there is left alone (a warning when its bytes differ from the prepared file's). A variant comes
 * after its version: it is measured against the version's own outputs (mlp-heavy's on the origin).
 */
export async function registerMissingModels(client: AdminClient, manifest: ManifestEntry[]): Promise<void> {
  const registered = new Map((await client.listModels()).map((m) => [m.name, m]));
  for (const entry of manifest) {
    const existing = registeredVersion(registered, entry);
    if (existing) {
      if (existing.sha256 !== entry.sha256) warnStale(versionLabel(entry), existing.sha256, entry.sha256, "version");
    } else {
      await withProgress(
        versionLabel(entry),
        entry.bytes,
        (onProgress) =>
          client.uploadModel(entry.name, entry.version, resolve(REPO_ROOT, entry.path), { placement: entry.placement, maxBatch: entry.maxBatch }, onProgress),
        (result) => `registered (${result.version.state})`,
      );
    }
    for (const variant of entry.variants ?? []) {
      const there = existing?.variants?.find((v) => v.variant === variant.name);
      if (there) {
        if (there.sha256 !== variant.sha256) warnStale(variantLabel(entry, variant), there.sha256, variant.sha256, "variant");
        continue;
      }
      await withProgress(
        variantLabel(entry, variant),
        variant.bytes,
        (onProgress) =>
          client.uploadVariant(entry.name, entry.version, variant.name, resolve(REPO_ROOT, variant.path), { maxError: DEMO_VARIANT_MAX_ERROR }, onProgress),
        (result) =>
          `registered at the edge (max abs error ${result.variant.accuracy.maxAbsError.toExponential(1)} on ${result.variant.accuracy.probes} probes)`,
      );
    }
  }
}

function registeredVersion(registered: Map<string, Model>, entry: ManifestEntry) {
  return registered.get(entry.name)?.versions.find((v) => v.version === entry.version);
}

/**
 * Loads each edge-run demo model (the repository's load warms its session on the first replica)
 * before the banner: after a restart the first request must not pay for creating a session,
 * which takes about as long as premium's 1 s deadline here. Origin models are the origin's.
 */
export async function warmEdgeModels(client: AdminClient, manifest: ManifestEntry[]): Promise<void> {
  for (const entry of manifest.filter((m) => m.placement !== "origin")) await client.setLoaded(entry.name, true);
}

/**
 * Warms each variant's session with one request pinning it (`parameters.variant`), as a tenant
 * would send: the repository's load warms only a version's default bytes, and the variant is
 * what serves mlp-heavy when the origin is gone, so its first degraded request must not wait for
 * a cold load. A failure is a warning: the first request pinning it then loads it.
 */
export async function warmVariants(baseUrl: string, tenantKey: string, manifest: ManifestEntry[]): Promise<void> {
  for (const entry of manifest) {
    for (const variant of entry.variants ?? []) {
      const response = await fetch(`${baseUrl}/v2/models/${encodeURIComponent(entry.name)}/versions/${encodeURIComponent(entry.version)}/infer`, {
        method: "POST",
        headers: { authorization: `Bearer ${tenantKey}`, "content-type": "application/json", "x-hotpath-timeout-ms": String(WARM_DEADLINE_MS) },
        body: JSON.stringify({ inputs: zeroRow(entry), parameters: { variant: variant.name } }),
        signal: AbortSignal.timeout(WARM_DEADLINE_MS + 5_000),
      }).catch((error: unknown) => error as Error);
      if (response instanceof Error) console.warn(`warning: ${variantLabel(entry, variant)} did not warm: ${response.message}`);
      else if (response.status !== 200) console.warn(`warning: ${variantLabel(entry, variant)} did not warm: ${response.status} ${await response.text()}`);
      else await response.body?.cancel();
    }
  }
}

/** One row of zeros for each input, its dynamic dimensions 1: enough to create the session and run it once. */
function zeroRow(entry: ManifestEntry) {
  return entry.inputs.map((spec) => {
    const shape = spec.shape.map((dim) => (dim < 0 ? 1 : dim));
    return { name: spec.name, datatype: spec.datatype, shape, data: new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0) };
  });
}
