/**
 * @module Proves the Worker deploys: `wrangler deploy --dry-run` bundles it exactly as a deploy
 * would, and the gzipped upload must stay under the paid plan's 10 MB (the ORT wasm alone is
 * about 3.7 MB gzipped; model weights live in R2, never in the bundle).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const LIMIT_BYTES = 10 * 1024 * 1024;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

const outdir = mkdtempSync(join(tmpdir(), "hotpath-bundle-"));
try {
  execFileSync(process.execPath, ["node_modules/wrangler/bin/wrangler.js", "deploy", "--dry-run", "--outdir", outdir], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  const files = filesUnder(outdir).filter((f) => !f.endsWith(".map"));
  let raw = 0;
  let gzipped = 0;
  for (const file of files) {
    const bytes = readFileSync(file);
    raw += bytes.byteLength;
    gzipped += gzipSync(bytes, { level: 9 }).byteLength;
  }
  const mb = (n: number) => (n / 1024 / 1024).toFixed(2);
  console.log(`bundle: ${files.length} files, ${mb(raw)} MB raw, ${mb(gzipped)} MB gzipped (limit ${mb(LIMIT_BYTES)} MB)`);
  if (gzipped >= LIMIT_BYTES) {
    console.error("the gzipped Worker bundle is over the 10 MB limit");
    process.exit(1);
  }
  console.log("1 passed, 0 failed");
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
