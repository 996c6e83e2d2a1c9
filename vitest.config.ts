/**
 * Unit and integration tests inside workerd, with the real Worker, Durable Objects, KV and R2
 * (miniflare). Model files and fixtures prepared by scripts/ reach the tests through the
 * FIXTURES service binding, served from disk by this (Node) process.
 *
 * Two projects, each its own miniflare with the Worker under wrangler.toml's vars and a few of
 * its own: `workerd` (everything but test/workerd/tight-host/) and `tight-host`, whose ModelHosts
 * have small memory and queue budgets and a short idle time, so a test can reach those limits
 * with the fixture models and a few requests, and the other files keep the limits they rely on.
 */
import { readFile } from "node:fs/promises";
import { resolve, sep } from "node:path";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { configDefaults, defineConfig, type TestProjectInlineConfiguration } from "vitest/config";

const DATA_ROOT = resolve(".hotpath");
const TIGHT_HOST_TESTS = "test/workerd/tight-host/**/*.test.ts";

async function serveFixture(request: Request): Promise<Response> {
  const path = resolve(DATA_ROOT, "." + decodeURIComponent(new URL(request.url).pathname));
  if (!path.startsWith(DATA_ROOT + sep)) return new Response("outside .hotpath", { status: 403 });
  try {
    return new Response(await readFile(path));
  } catch {
    return new Response(`no fixture ${path}: run npm run models`, { status: 404 });
  }
}

/** The Worker under test with the secrets the tests use and `vars` over wrangler.toml's. */
function workerdProject(name: string, include: string[], exclude: string[], vars: Record<string, string>): TestProjectInlineConfiguration {
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: { ADMIN_TOKEN: "test-admin-token", ORIGIN_TOKEN: "test-origin-token", ...vars },
          serviceBindings: { FIXTURES: serveFixture },
        },
      }),
    ],
    test: { name, include, exclude: [...configDefaults.exclude, ...exclude], testTimeout: 60_000, hookTimeout: 60_000 },
  };
}

export default defineConfig({
  test: {
    projects: [
      // A short idle time before a replica is removed, so the replica test sees a set shrink; alert
      // evaluations only when a test runs the Alerts object's alarm (runDurableObjectAlarm), never between its steps.
      workerdProject("workerd", ["test/workerd/**/*.test.ts"], [TIGHT_HOST_TESTS], { REPLICA_SCALE_DOWN_AFTER_MS: "1500", ALERT_EVAL_INTERVAL_MS: "3600000" }),
      // Sized to the fixtures (test/workerd/tight-host/limits.ts says how).
      workerdProject("tight-host", [TIGHT_HOST_TESTS], [], {
        HOST_MEMORY_BUDGET_MB: "16",
        HOST_QUEUE_BUDGET_MB: "1",
        HOST_SESSION_IDLE_MS: "3000",
        HOST_MAX_CONCURRENT_LOADS: "1",
      }),
    ],
  },
});
