/**
 * @module Deleting a version tells the origin pool to unload it (router/origin-pool/origin-admin.ts
 * `unloadOnPool`, which the admin DELETE route runs in the background): origins keep sessions by
 * name and version, so one never told would go on serving the deleted bytes. Real origin
 * processes against the dev edge, and one origin that is not there: the unload is best effort,
 * so it counts what was unloaded and never throws.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { freePort } from "../e2e/harness/ports.ts";
import { startDevEdge, type DevEdge } from "../../origin/dev-edge.ts";
import { launchOrigin, type LaunchedOrigin } from "../../origin/launch.ts";
import { loadOnPool, unloadOnPool } from "../../router/origin-pool/origin-admin.ts";
import type { PoolEnv } from "../../router/origin-pool/pool.ts";
import { REPO_ROOT } from "../../scripts/models/catalog.ts";
import { prepareModels } from "../../scripts/prepare-models.ts";

const TOKEN = "origin-unload-token";
const MODELS_DIR = resolve(REPO_ROOT, ".hotpath/models");
const scratch = mkdtempSync(join(tmpdir(), "hotpath-origin-unload-"));
let edge: DevEdge;
const origins: LaunchedOrigin[] = [];
let pool: PoolEnv;

before(async () => {
  if (!existsSync(join(MODELS_DIR, "manifest.json"))) prepareModels();
  edge = await startDevEdge({ port: await freePort(), token: TOKEN, modelsDir: MODELS_DIR, repoRoot: REPO_ROOT });
  for (const id of ["a", "b"]) {
    origins.push(
      await launchOrigin({ port: await freePort(), edge: edge.url, token: TOKEN, models: [], cacheDir: join(scratch, `cache-${id}`), args: ["--id", id] }),
    );
  }
  const members = origins.map((origin, i) => ({ id: `o${i}`, url: origin.url }));
  pool = { ORIGINS: JSON.stringify(members), ORIGIN_TOKEN: TOKEN };
});

after(async () => {
  await Promise.all(origins.map((origin) => origin.stop()));
  await edge?.close();
  rmSync(scratch, { recursive: true, force: true });
});

const ready = (origin: LaunchedOrigin) => fetch(`${origin.url}/v2/models/mlp-tiny/versions/1/ready`, { headers: { authorization: `Bearer ${TOKEN}` } });

test("every origin that loaded the version unloads it; an unreachable one and a second unload are not errors", async () => {
  await loadOnPool(pool, "mlp-tiny", "1");
  // loadOnPool answers with the first origin's signature; wait for the other load to land too.
  for (const origin of origins) {
    while ((await ready(origin)).status !== 200) await new Promise((r) => setTimeout(r, 50));
  }

  const members = [...(JSON.parse(pool.ORIGINS!) as object[]), { id: "gone", url: `http://127.0.0.1:${await freePort()}` }];
  const withDeadOrigin: PoolEnv = { ORIGINS: JSON.stringify(members), ORIGIN_TOKEN: TOKEN };
  assert.equal(await unloadOnPool(withDeadOrigin, "mlp-tiny", "1", 2_000), 2);
  for (const origin of origins) assert.equal((await ready(origin)).status, 404, `origin ${origin.url} still serves mlp-tiny@1`);

  // Nothing left to unload: each origin answers 404, which is counted, not thrown.
  assert.equal(await unloadOnPool(withDeadOrigin, "mlp-tiny", "1", 2_000), 0);
});
