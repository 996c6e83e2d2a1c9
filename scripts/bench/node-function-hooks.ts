/**
 * @module Lets Node load the functions/ modules exactly as the Worker bundle does, so the plain
 * server (plain-functions-server.ts) runs the same code rather than a copy of it. Import this
 * before any functions/ module. What only a bundler does is done here: `*.txt` imports are text
 * modules (wrangler's default rule), and functions/ocr/keys.ts bundles the OCR dictionary that way.
 */
import { readFileSync } from "node:fs";
import { registerHooks } from "node:module";
import { fileURLToPath } from "node:url";

registerHooks({
  load(url, context, nextLoad) {
    if (!url.startsWith("file:") || !url.endsWith(".txt")) return nextLoad(url, context);
    const text = readFileSync(fileURLToPath(url), "utf8");
    return { format: "module", shortCircuit: true, source: `export default ${JSON.stringify(text)};` };
  },
});
