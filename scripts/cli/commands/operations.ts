/**
 * @module `hotpath usage`: per-tenant usage (`GET /admin/usage`). A server without the route
 * answers 404 "no route", which this command (and `status`, commands/status.ts) turns into one clear line.
 */
import type { Command } from "commander";
import { Command as CommanderCommand } from "commander";
import { AdminApiError } from "../../lib/admin-client.ts";
import { contextOf } from "../context.ts";
import { CliError } from "../errors.ts";
import { answer, table, type Cell } from "../output.ts";

/** hotpath's own 404 for a route it does not have, as opposed to an unknown model or tenant. */
export function missingRoute(error: unknown, command: string, route: string): unknown {
  if (error instanceof AdminApiError && error.status === 404 && !error.foreign && error.message.includes("no route")) {
    return new CliError(`\`hotpath ${command}\` is not available on this server yet: it has no ${route} route`);
  }
  return error;
}

/** The first array of records in an answer, as a table; anything else as JSON. */
function anyTable(value: unknown): string {
  const rows = Array.isArray(value) ? value : Object.values(value as object).find(Array.isArray);
  if (!Array.isArray(rows) || rows.length === 0 || typeof rows[0] !== "object") return JSON.stringify(value, null, 2);
  const headers = [...new Set(rows.flatMap((row: object) => Object.keys(row)))];
  return table(
    headers,
    rows.map((row: Record<string, unknown>) => headers.map((h) => (typeof row[h] === "object" ? JSON.stringify(row[h]) : (row[h] as Cell)))),
  );
}

interface UsageAnswer {
  rows: ({ day: string; tenant: string; model: string } & UsageFigures)[];
  totals: UsageFigures;
  truncated?: boolean;
}

interface UsageFigures {
  requests: number;
  rows: number;
  inferenceMs: number;
  bytesIn: number;
  bytesOut: number;
}

/** GET /admin/usage as a table with a total line; any other answer as anyTable makes it. */
function usageTable(value: unknown): string {
  const usage = value as Partial<UsageAnswer>;
  if (!Array.isArray(usage.rows) || typeof usage.totals !== "object") return anyTable(value);
  if (usage.rows.length === 0) return "no usage in that range";
  const figures = (f: UsageFigures): Cell[] => [f.requests, f.rows, Math.round(f.inferenceMs), f.bytesIn, f.bytesOut];
  const lines = usage.rows.map((row) => [row.day, row.tenant, row.model, ...figures(row)]);
  lines.push(["total", "", "", ...figures(usage.totals)]);
  const text = table(["day", "tenant", "model", "requests", "rows", "inference ms", "bytes in", "bytes out"], lines);
  return usage.truncated ? `${text}\n(more rows matched: narrow the range or name a tenant; the total covers them all)` : text;
}

export function usageCommand(): Command {
  return new CommanderCommand("usage")
    .description("requests, rows, inference time and bytes per tenant, model and day (GET /admin/usage)")
    .option("--tenant <tenant>", "one tenant only")
    .option("--from <date>", "first day, YYYY-MM-DD")
    .option("--to <date>", "last day, YYYY-MM-DD")
    .action(async (options: { tenant?: string; from?: string; to?: string }, command: Command) => {
      const { client, json } = contextOf(command);
      const query = new URLSearchParams(Object.entries(options).filter((entry): entry is [string, string] => typeof entry[1] === "string"));
      const usage = await client.get<unknown>(`/admin/usage${query.size > 0 ? `?${query}` : ""}`).catch((error: unknown) => {
        throw missingRoute(error, "usage", "GET /admin/usage");
      });
      answer(json, usage, usageTable);
    });
}
