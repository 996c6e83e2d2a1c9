/** @module The banner `npm start` and `npm run dev` print once the stack serves: the URL, models, keys and curl lines to try. */
import { mkdirSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative } from "node:path";
import type { Tier } from "../../config/tiers.ts";
import type { ManifestEntry } from "../prepare-models.ts";
import { REPO_ROOT } from "./wrangler-dev.ts";

/** The banner's first line: test/e2e/stack.test.ts waits for it, so keep the wording. */
export const READY_PREFIX = "hotpath ready on ";

export type DemoKeys = { admin: string } & Partial<Record<Tier, string>>;

export interface BannerOptions {
  persistTo: string;
  keysFile: string;
  /** What runs the edge, one line (the topology and how requests are logged). */
  runtime: string;
}

/** Paths as the user would type them from here. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

interface FixtureFile {
  inputs: { name: string; datatype: string; shape: number[]; data: number[] }[];
}

function readFixture(name: string): FixtureFile | undefined {
  const path = join(REPO_ROOT, ".hotpath/fixtures", name);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as FixtureFile) : undefined;
}

/** One row for mlp-tiny: the fixture's first row when `npm run models` made it, else fixed values. */
function mlpTinyBody(entry: ManifestEntry | undefined): string {
  const spec = entry?.inputs[0] ?? { name: "input", datatype: "FP32", shape: [-1, 16] };
  const width = spec.shape[1] ?? 16;
  const fixture = readFixture("mlp-tiny.json")?.inputs[0]?.data.slice(0, width);
  const data = fixture ?? Array.from({ length: width }, (_, i) => Number(Math.sin(i + 1).toFixed(3)));
  return JSON.stringify({ inputs: [{ name: spec.name, datatype: spec.datatype, shape: [1, width], data }] });
}

/** One row of a generated MLP (mlp-heavy: 1024 wide), for a request file; `parameters` (a pinned variant) when given. */
function mlpRowBody(entry: ManifestEntry, parameters?: Record<string, string>): string {
  const spec = entry.inputs[0] ?? { name: "input", datatype: "FP32", shape: [-1, 1024] };
  const width = spec.shape[1] ?? 1024;
  const data = Array.from({ length: width }, (_, i) => Number(Math.sin(i + 1).toFixed(3)));
  return JSON.stringify({ inputs: [{ name: spec.name, datatype: spec.datatype, shape: [1, width], data }], ...(parameters ? { parameters } : {}) });
}

/**
 * Silero takes 64 context samples plus 512 new ones at 16 kHz, zero state and sr: the speech
 * fixture's frame when present, else silence. Too long for a command line, so it goes to a file.
 */
function sileroBody(): string {
  const fixture = readFixture("silero-speech.json");
  const inputs = fixture?.inputs ?? [
    { name: "input", datatype: "FP32", shape: [1, 576], data: new Array<number>(576).fill(0) },
    { name: "state", datatype: "FP32", shape: [2, 1, 128], data: new Array<number>(256).fill(0) },
    { name: "sr", datatype: "INT64", shape: [], data: [16000] },
  ];
  return JSON.stringify({ inputs });
}

/** For origin-placed models: a request whose answer headers show where it ran, and the pool's state. */
function originLines(url: string, auth: string, keys: DemoKeys, manifest: ManifestEntry[], requests: string): string[] {
  const onOrigin = manifest.filter((m) => m.placement === "origin");
  const first = onOrigin[0];
  if (!first) return [];
  const file = join(requests, `${first.name}.json`);
  writeFileSync(file, `${mlpRowBody(first)}\n`);
  return [
    `  origin-placed models (${onOrigin.map((m) => m.name).join(", ")}) run on the local origin; the answer's headers say where it ran:`,
    `    curl -s -D - -o /dev/null ${url}/v2/models/${first.name}/infer ${auth} -d @${shown(file)}`,
    `    curl -s ${url}/admin/origins -H 'authorization: Bearer ${keys.admin}'    # the pool: health, breaker, load`,
    ...variantLines(url, auth, first, requests),
  ];
}

/**
 * A prepared variant of an origin model (mlp-heavy's int8 copy) runs at the edge: a request that
 * pins it, and what happens without the origin (standard and free requests are served on it).
 */
function variantLines(url: string, auth: string, entry: ManifestEntry, requests: string): string[] {
  const variant = entry.variants?.[0];
  if (!variant) return [];
  const file = join(requests, `${entry.name}-${variant.name}.json`);
  writeFileSync(file, `${mlpRowBody(entry, { variant: variant.name })}\n`);
  return [
    `  ${entry.name} has an ${variant.name} copy (${(variant.bytes / 1e6).toFixed(1)} MB) at the edge: pin it with "parameters": {"variant": "${variant.name}"};`,
    `  with the origin stopped, standard and free requests are served on it (x-hotpath-variant: ${variant.name}, Server-Timing degraded):`,
    `    curl -s -D - -o /dev/null ${url}/v2/models/${entry.name}/infer ${auth} -d @${shown(file)}`,
  ];
}

export function banner(url: string, options: BannerOptions, keys: DemoKeys, manifest: ManifestEntry[]): string {
  const requests = join(dirname(options.keysFile), "requests");
  mkdirSync(requests, { recursive: true });
  const sileroFile = join(requests, "silero-vad.json");
  writeFileSync(sileroFile, `${sileroBody()}\n`);
  const auth = `-H 'authorization: Bearer ${keys.premium}' -H 'content-type: application/json'`;
  const mlp = manifest.find((m) => m.name === "mlp-tiny");
  return [
    "",
    `${READY_PREFIX}${url}`,
    `  models: ${manifest.map((m) => `${m.name}@${m.version}`).join(", ")} (state in ${shown(options.persistTo)})`,
    `  keys:   ${shown(options.keysFile)} (admin token and one key per tier: free, standard, premium)`,
    `  edge:   ${options.runtime}`,
    "  try:",
    `    curl -s ${url}/v2/models/mlp-tiny/infer ${auth} -d '${mlpTinyBody(mlp)}'`,
    `    curl -s ${url}/v2/models/silero-vad/infer ${auth} -d @${shown(sileroFile)}`,
    ...originLines(url, auth, keys, manifest, requests),
    "  npx hotpath keys create <tenant> --tier standard    npx hotpath models push <name> <version> <file.onnx>    npx hotpath --help",
    "  Ctrl-C stops the stack; the next npm start reuses its models and keys.",
    "",
  ].join("\n");
}
