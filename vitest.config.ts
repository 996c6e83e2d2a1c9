/**
 * Unit and integration tests inside workerd, with the real Worker, Durable Objects, KV and R2
 * (miniflare). Model files and fixtures prepared by scripts/ reach the tests through the
 * FIXTURES service binding, served from disk by this (Node) process.
 */
import { readFile } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const DATA_ROOT = resolve(".hotpath");

async function serveFixture(request: Request): Promise<Response> {
  const path = resolve(DATA_ROOT, "." + decodeURIComponent(new URL(request.url).pathname));
  if (!path.startsWith(DATA_ROOT + sep)) return new Response("outside .hotpath", { status: 403 });
  try {
    return new Response(await readFile(path));
  } catch {
    return new Response(`no fixture ${path}: run npm run models`, { status: 404 });
  }
}

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // A short idle time before a replica is removed, so the replica test sees a set shrink.
        bindings: { ADMIN_TOKEN: "test-admin-token", ORIGIN_TOKEN: "test-origin-token", REPLICA_SCALE_DOWN_AFTER_MS: "1500" },
        serviceBindings: { FIXTURES: serveFixture },
      },
    }),
  ],
  test: {
    include: ["test/workerd/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
