/**
 * @module The stand-in edge from the shell (the library is dev-edge.ts; kept apart so that
 * bundling dev-edge.ts into another entry never runs this):
 * `ORIGIN_TOKEN=... node origin/dev-edge-main.ts --port 8787 [--host 127.0.0.1] [--root .hotpath/models]`
 */
import { parseArgs } from "node:util";
import { startDevEdge } from "./dev-edge.ts";

const { values } = parseArgs({
  options: { port: { type: "string", default: "8787" }, host: { type: "string", default: "127.0.0.1" }, root: { type: "string", default: ".hotpath/models" } },
});
const token = process.env.ORIGIN_TOKEN;
if (!token) throw new Error("set ORIGIN_TOKEN, the secret the origins are started with");
const edge = await startDevEdge({ port: Number(values.port), host: values.host, token, modelsDir: values.root, repoRoot: process.cwd() });
console.log(`dev edge serving ${values.root} on ${edge.url}`);
