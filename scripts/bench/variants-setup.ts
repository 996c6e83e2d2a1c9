/**
 * @module The `variants` scenario's model and requests: mlp-heavy (fp32, placed on the origin)
 * and its int8 copy at the edge, as `npm run models` writes them (manifest.json `variants`). The
 * int8 variant is uploaded through the admin API when the stack does not have it yet, so the
 * scenario measures the same thing whether `npm start` registers the variant or not.
 */
import { readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { TIERS } from "../../config/tiers.ts";
import type { VariantRecord } from "../../protocol/model-record.ts";
import { INFERENCE_HEADER_LENGTH_HEADER } from "../../protocol/headers.ts";
import { encodeInferRequest } from "../../protocol/oip/infer-response.ts";
import type { ManifestEntry } from "../prepare-models.ts";
import { REPO_ROOT } from "../lib/wrangler-dev.ts";
import type { Body } from "./bodies.ts";
import type { NpmStartStack } from "./npm-start-stack.ts";

export const MODEL = "mlp-heavy";
export const VERSION = "1";
export const VARIANT = "int8";
/** Standard tenants' deadline when they send none: "served within the deadline" is judged on it. */
export const DEADLINE_MS = TIERS.standard.defaultDeadlineMs;
/** Offered load in multiples of the default's measured capacity. */
export const OVERLOAD = 4;
/** The input's width: mlp-heavy is 1024-4096-4096-1024. */
const WIDTH = 1024;

export interface HeavyFiles {
  fp32: { path: string; bytes: number };
  int8: { path: string; bytes: number };
}

/** mlp-heavy's fp32 file and its int8 variant's, from the manifest `npm run models` wrote (the benchmark runs it first). */
export function heavyFiles(): HeavyFiles {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, ".hotpath/models/manifest.json"), "utf8")) as ManifestEntry[];
  const entry = manifest.find((m) => m.name === MODEL && m.version === VERSION);
  const variant = entry?.variants?.find((v) => v.name === VARIANT);
  if (!entry || !variant) throw new Error(`.hotpath/models/manifest.json lists no ${MODEL}@${VERSION} with a '${VARIANT}' variant: run npm run models`);
  const file = (path: string) => ({ path: resolve(REPO_ROOT, path), bytes: statSync(resolve(REPO_ROOT, path)).size });
  return { fp32: file(entry.path), int8: file(variant.path) };
}

interface AdminVersion {
  version: string;
  variants?: VariantRecord[];
}

async function registeredVariant(stack: NpmStartStack): Promise<VariantRecord | undefined> {
  const response = await fetch(`${stack.url}/admin/models/${MODEL}`, {
    headers: { authorization: `Bearer ${stack.keys.admin}` },
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET /admin/models/${MODEL}: ${response.status} ${text.slice(0, 300)}`);
  const version = (JSON.parse(text) as { versions?: AdminVersion[] }).versions?.find((v) => v.version === VERSION);
  if (!version) throw new Error(`the stack has no ${MODEL}@${VERSION} (is its origin running?)`);
  return version.variants?.find((v) => v.variant === VARIANT);
}

/**
 * The int8 variant as the stack records it (bytes, accuracy), uploaded first when the stack does
 * not have it. `uploaded` says which, for the report.
 */
export async function ensureVariant(stack: NpmStartStack, files: HeavyFiles): Promise<{ variant: VariantRecord; uploaded: boolean }> {
  const existing = await registeredVariant(stack);
  if (existing) return { variant: existing, uploaded: false };
  // 25 MB in one buffer: fetch then sends its Content-Length, which the upload route requires.
  const response = await fetch(`${stack.url}/admin/models/${MODEL}/versions/${VERSION}/variants/${VARIANT}?placement=edge`, {
    method: "PUT",
    headers: { authorization: `Bearer ${stack.keys.admin}`, "content-type": "application/octet-stream" },
    body: readFileSync(files.int8.path),
    signal: AbortSignal.timeout(300_000),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`uploading ${MODEL}@${VERSION}/${VARIANT}: ${response.status} ${text.slice(0, 300)}`);
  return { variant: (JSON.parse(text) as { variant: VariantRecord }).variant, uploaded: true };
}

/**
 * `rows` x 1024 FP32, binary both ways; `variant` goes into `parameters.variant` (`default` pins
 * the version's own bytes, a name pins that variant), none lets the tier degrade the request.
 */
export function heavyBody(rows: number, variant?: string): Body {
  const data = new Float32Array(rows * WIDTH);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 0.5;
  const encoded = encodeInferRequest(
    { inputs: [{ name: "input", datatype: "FP32", shape: [rows, WIDTH], data }], binaryByDefault: true, ...(variant ? { parameters: { variant } } : {}) },
    { binary: true },
  );
  const headers: Record<string, string> = { "content-type": encoded.contentType };
  if (encoded.headerLength !== undefined) headers[INFERENCE_HEADER_LENGTH_HEADER] = String(encoded.headerLength);
  return { body: encoded.body, headers };
}
