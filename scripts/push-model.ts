/** @module `npm run push-model -- <name> <version> <file.onnx>`: upload a model version to a hotpath instance, with progress. */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { PLACEMENTS, type Placement } from "../protocol/model-record.ts";
import { AdminClient, resolveAdminToken, resolveBaseUrl } from "./lib/admin-client.ts";
import { createProgress, formatBytes } from "./lib/progress.ts";
import { REPO_ROOT } from "./lib/wrangler-dev.ts";

const USAGE = `usage: npm run push-model -- <name> <version> <file.onnx> [--placement edge|origin|auto] [--max-batch N]
                              [--url URL] [--admin-token TOKEN]
URL: --url, HOTPATH_URL, or http://127.0.0.1:8787 (a deployed Worker: https://hotpath.<account>.workers.dev).
Admin token: --admin-token, HOTPATH_ADMIN_TOKEN, or the local stack's .hotpath/demo-keys.json.`;

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      placement: { type: "string" },
      "max-batch": { type: "string" },
      url: { type: "string" },
      "admin-token": { type: "string" },
      "keys-file": { type: "string", default: join(REPO_ROOT, ".hotpath/demo-keys.json") },
      help: { type: "boolean", short: "h" },
    },
  });
  const [name, version, file] = positionals;
  if (values.help || !name || !version || !file) {
    console.log(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const placement = values.placement as Placement | undefined;
  if (placement !== undefined && !PLACEMENTS.includes(placement)) throw new Error(`--placement must be one of ${PLACEMENTS.join(", ")}`);
  const maxBatch = values["max-batch"] === undefined ? undefined : Number(values["max-batch"]);
  if (maxBatch !== undefined && !(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new Error("--max-batch must be a positive integer");

  const path = resolve(file);
  const bytes = statSync(path).size;
  if (bytes === 0) throw new Error(`${file} is empty`);
  const client = new AdminClient({
    baseUrl: resolveBaseUrl(values.url),
    adminToken: resolveAdminToken(values["admin-token"], values["keys-file"]),
    timeoutMs: 120_000,
  });
  // Hashed locally first so the server's digest proves the bytes arrived intact.
  const localSha = await sha256File(path);
  console.log(`pushing ${name}@${version} (${formatBytes(bytes)}, sha256 ${localSha.slice(0, 12)}) to ${client.baseUrl}`);

  const progress = createProgress({ label: `${name}@${version}`, total: bytes });
  let result;
  try {
    result = await client.uploadModel(name, version, path, { placement, maxBatch }, (sent) => progress.update(sent));
    progress.finish("done");
  } catch (error) {
    progress.finish("failed");
    throw error;
  }
  const record = result.version;
  if (record.sha256 !== localSha) throw new Error(`the server stored sha256 ${record.sha256}, the file has ${localSha}`);
  const signature = (specs: typeof record.inputs) => specs.map((s) => `${s.name} ${s.datatype}[${s.shape.join(",")}]`).join(", ");
  console.log(`registered ${result.name}@${record.version}: ${record.state}, placement ${record.placement}, max batch ${record.maxBatch}`);
  console.log(`  inputs:  ${signature(record.inputs)}`);
  console.log(`  outputs: ${signature(record.outputs)}`);
  console.log(`  default version: ${result.defaultVersion ?? "(none ready)"}`);
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
}
