/** @module `npm run keys -- create|revoke|show`: manage tenants and their API keys through the admin API. */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { TIER_NAMES, type Tier } from "../config/tiers.ts";
import { AdminClient, resolveAdminToken, resolveBaseUrl } from "./lib/admin-client.ts";
import { REPO_ROOT } from "./lib/wrangler-dev.ts";

const USAGE = `usage: npm run keys -- <command> [--url URL] [--admin-token TOKEN]
  create <tenant> --tier free|standard|premium [--models a,b]   create or update the tenant, print a new key
  revoke <tenant> <keyId>                                       revoke one key
  show <tenant>                                                 tier, allowed models, key ids
URL: --url, HOTPATH_URL, or http://127.0.0.1:8787.
Admin token: --admin-token, HOTPATH_ADMIN_TOKEN, or the one \`npm start\` wrote to .hotpath/demo-keys.json.`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      tier: { type: "string" },
      models: { type: "string" },
      url: { type: "string" },
      "admin-token": { type: "string" },
      "keys-file": { type: "string", default: join(REPO_ROOT, ".hotpath/demo-keys.json") },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, tenant, keyId] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const usageError = (message: string): never => {
    throw new Error(`${message}\n${USAGE}`);
  };
  if (!tenant) usageError(`${command}: which tenant?`);
  const client = new AdminClient({
    baseUrl: resolveBaseUrl(values.url),
    adminToken: resolveAdminToken(values["admin-token"], values["keys-file"]),
  });

  switch (command) {
    case "create": {
      const tier = values.tier as Tier | undefined;
      if (!tier || !TIER_NAMES.includes(tier)) usageError(`create: --tier must be one of ${TIER_NAMES.join(", ")}`);
      const models = values.models
        ? values.models
            .split(",")
            .map((m) => m.trim())
            .filter(Boolean)
        : ["*"];
      const record = await client.putTenant(tenant!, tier!, models);
      const created = await client.createKey(record.id);
      console.log(`tenant ${record.id}: tier ${record.tier}, models ${record.models.join(",")}`);
      console.log(`key id ${created.keyId}`);
      console.log(`key    ${created.key}`);
      console.log("The key is shown only now; the server keeps its SHA-256 only.");
      return;
    }
    case "revoke": {
      if (!keyId) usageError("revoke: which key id? (`show <tenant>` lists them)");
      await client.revokeKey(tenant!, keyId!);
      console.log(`revoked key ${keyId} of tenant ${tenant}`);
      return;
    }
    case "show": {
      const record = await client.getTenant(tenant!);
      if (!record) throw new Error(`unknown tenant '${tenant}'`);
      console.log(JSON.stringify(record, null, 2));
      return;
    }
    default:
      usageError(`unknown command '${command}'`);
  }
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
}
