/**
 * @module A stamp beside generated files (`.stamp.json`): the digest of everything they were made
 * from and the files made. A build whose stamp matches its inputs, with every output still there,
 * is skipped, so the test scripts can each run `npm run models` first at no cost.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const STAMP_FILE = ".stamp.json";

interface Stamp {
  inputs: string;
  outputs: string[];
}

/** sha256 over the files' bytes (in order, each with its path) and any other values the outputs depend on. */
export function inputsDigest(files: string[], values: string[] = []): string {
  const hash = createHash("sha256");
  for (const file of files) hash.update(`${file}\n`).update(readFileSync(file));
  for (const value of values) hash.update(`\n${value}`);
  return hash.digest("hex");
}

/** True when `dir` was built from inputs with this digest and every file built is still there. */
export function upToDate(dir: string, digest: string): boolean {
  const stampPath = join(dir, STAMP_FILE);
  if (!existsSync(stampPath)) return false;
  try {
    const stamp = JSON.parse(readFileSync(stampPath, "utf8")) as Stamp;
    return stamp.inputs === digest && stamp.outputs.length > 0 && stamp.outputs.every((file) => existsSync(join(dir, file)));
  } catch {
    return false;
  }
}

/** Records a finished build: written last, so an interrupted build is never taken as done. */
export function writeStamp(dir: string, digest: string, outputs: string[]): void {
  writeFileSync(join(dir, STAMP_FILE), `${JSON.stringify({ inputs: digest, outputs } satisfies Stamp, null, 2)}\n`);
}
