/** @module `hotpath tenants put | get` and `hotpath keys create | list | revoke`: tenants (tier, allowed models) and their API keys. */
import { Command, Option } from "commander";
import { TIER_NAMES, type Tier } from "../../../config/tiers.ts";
import type { CreatedKey, Tenant } from "../../lib/admin-client.ts";
import { commaList } from "../arguments.ts";
import { contextOf } from "../context.ts";
import { CliError } from "../errors.ts";
import { answer, fields, formatTime, table } from "../output.ts";

const tierOption = () => new Option("--tier <tier>", "the tenant's tier").choices(TIER_NAMES);
const modelsOption = () => new Option("--models <list>", "models it may use, comma-separated (default: every model, *)").argParser(commaList);

const describeTenant = (tenant: Tenant): string =>
  fields([
    ["tenant", tenant.id],
    ["tier", tenant.tier],
    ["models", tenant.models.join(", ")],
    ["created", formatTime(tenant.createdAt)],
    ["keys", tenant.keyIds === undefined ? undefined : tenant.keyIds.length],
  ]);

export function tenantsCommand(): Command {
  const tenants = new Command("tenants").description("tenants: their tier and the models they may use");

  tenants
    .command("put")
    .description("create or change a tenant")
    .argument("<tenant>", "tenant id")
    .addOption(tierOption().makeOptionMandatory())
    .addOption(modelsOption())
    .action(async (id: string, options: { tier: Tier; models?: string[] }, command: Command) => {
      const { client, json } = contextOf(command);
      const tenant = await client.putTenant(id, options.tier, options.models ?? ["*"]);
      answer(json, tenant, describeTenant);
    });

  tenants
    .command("get")
    .description("a tenant's tier, models and key ids")
    .argument("<tenant>", "tenant id")
    .action(async (id: string, _options: object, command: Command) => {
      const { client, json } = contextOf(command);
      const tenant = await client.getTenant(id);
      if (!tenant) throw new CliError(`unknown tenant '${id}'`);
      answer(json, tenant, describeTenant);
    });
  return tenants;
}

export function keysCommand(): Command {
  const keys = new Command("keys").description("tenant API keys: shown once at creation, stored as their SHA-256");

  keys
    .command("create")
    .description("a new key for a tenant; with --tier, the tenant is created or changed first")
    .argument("<tenant>", "tenant id")
    .addOption(tierOption())
    .addOption(modelsOption())
    .action(async (id: string, options: { tier?: Tier; models?: string[] }, command: Command) => {
      if (options.models && !options.tier) command.error("error: --models needs --tier (it changes the tenant)");
      const { client, json } = contextOf(command);
      if (options.tier) await client.putTenant(id, options.tier, options.models ?? ["*"]);
      const created = await client.createKey(id);
      answer(json, created, (k: CreatedKey) =>
        [
          fields([
            ["tenant", `${k.tenant} (${k.tier})`],
            ["key id", k.keyId],
            ["key", k.key],
          ]),
          "The key is shown only now; the server keeps its SHA-256 only.",
        ].join("\n"),
      );
    });

  keys
    .command("list")
    .description("a tenant's key ids (the keys themselves are never stored)")
    .argument("<tenant>", "tenant id")
    .action(async (id: string, _options: object, command: Command) => {
      const { client, json } = contextOf(command);
      const tenant = await client.getTenant(id);
      if (!tenant) throw new CliError(`unknown tenant '${id}'`);
      const keyIds = tenant.keyIds ?? [];
      answer(json, { tenant: tenant.id, keyIds }, (value) =>
        keyIds.length === 0
          ? `tenant ${value.tenant} has no keys`
          : table(
              ["key id"],
              keyIds.map((k) => [k]),
            ),
      );
    });

  keys
    .command("revoke")
    .description("revoke one key: it gets 401 from then on (other isolates within KV's propagation)")
    .argument("<tenant>", "tenant id")
    .argument("<keyId>", "the key id (`keys list` shows them)")
    .action(async (id: string, keyId: string, _options: object, command: Command) => {
      const { client, json } = contextOf(command);
      await client.revokeKey(id, keyId);
      answer(json, { tenant: id, revoked: keyId }, () => `revoked key ${keyId} of tenant ${id}`);
    });
  return keys;
}
