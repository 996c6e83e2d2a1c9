/**
 * @module Lets Node load the functions/ modules exactly as the Worker bundle does, so the plain
 * server (plain-functions-server.ts) runs the same code rather than a copy of it. Import this
 * before any functions/ module. Two things only a bundler does are done here:
 *
 * - `*.txt` imports are text modules (wrangler's default rule): functions/ocr/keys.ts bundles the
 *   OCR dictionary that way;
 * - `wavefile` resolves to its ES module build (its `module` field, which bundlers prefer; Node
 *   would take the CommonJS `main`, which has no named exports), whose own relative imports leave
 *   out `.js` and `/index.js` as bundlers allow.
 */
import { readFileSync } from "node:fs";
import { registerHooks } from "node:module";
import { fileURLToPath } from "node:url";

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === "wavefile") return nextResolve("wavefile/index.js", context);
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (!specifier.startsWith(".")) throw error;
      const code = (error as { code?: string }).code;
      if (code === "ERR_MODULE_NOT_FOUND") return nextResolve(`${specifier}.js`, context);
      if (code === "ERR_UNSUPPORTED_DIR_IMPORT") return nextResolve(`${specifier}/index.js`, context);
      throw error;
    }
  },
  load(url, context, nextLoad) {
    if (!url.startsWith("file:") || !url.endsWith(".txt")) return nextLoad(url, context);
    const text = readFileSync(fileURLToPath(url), "utf8");
    return { format: "module", shortCircuit: true, source: `export default ${JSON.stringify(text)};` };
  },
});
