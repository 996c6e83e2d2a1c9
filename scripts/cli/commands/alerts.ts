/**
 * @module `hotpath alerts list | put | delete`: the alert rules (`/admin/alerts`). `put` sends the
 * options as the rule's JSON body; the server checks it and answers what was wrong in one line.
 */
import { Command, Option } from "commander";
import { TIER_NAMES } from "../../../config/tiers.ts";
import { positiveInteger } from "../arguments.ts";
import { contextOf } from "../context.ts";
import { CliError } from "../errors.ts";
import { answer, formatTime, table } from "../output.ts";

interface AlertView {
  name: string;
  rule: { kind: string; webhook: string; threshold?: number; window_seconds?: number; for_seconds?: number; tier?: string; model?: string; origin?: string };
  state: { firing: boolean; since?: number; value: number | null };
}

function share(value: string): number {
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number)) throw new CliError(`'${value}' is not a number (a share such as 0.05)`);
  return number;
}

/** What the rule watches, in a few words: `premium mlp-tiny < 0.99 over 300 s`. */
function condition(rule: AlertView["rule"]): string {
  if (rule.kind === "origin_down") return `${rule.origin ?? "any origin"} down >= ${rule.for_seconds} s`;
  const scope = [rule.tier, rule.model].filter((part) => part !== undefined).join(" ");
  return `${scope === "" ? "" : `${scope} `}${rule.kind === "slo" ? "<" : ">"} ${rule.threshold} over ${rule.window_seconds} s`;
}

function alertsTable(answerValue: { alerts: AlertView[] }): string {
  if (answerValue.alerts.length === 0) return "no alert rules";
  return table(
    ["name", "kind", "condition", "state", "value", "since", "webhook"],
    answerValue.alerts.map((a) => [
      a.name,
      a.rule.kind,
      condition(a.rule),
      a.state.firing ? "FIRING" : "ok",
      a.state.value === null ? undefined : Number(a.state.value.toFixed(4)),
      a.state.since === undefined ? undefined : formatTime(a.state.since),
      a.rule.webhook,
    ]),
  );
}

export function alertsCommand(): Command {
  const alerts = new Command("alerts").description("alert rules posting to a webhook: SLO attainment, error rate, an origin down");

  alerts
    .command("list")
    .description("every rule with its state (firing or not, its last value)")
    .action(async (_options: object, command: Command) => {
      const { client, json } = contextOf(command);
      answer(json, await client.get<{ alerts: AlertView[] }>("/admin/alerts"), alertsTable);
    });

  alerts
    .command("put")
    .description("create or replace a rule")
    .argument("<name>", "the rule's name")
    .addOption(new Option("--kind <kind>", "what it watches").choices(["slo", "error_rate", "origin_down"]).makeOptionMandatory())
    .requiredOption("--webhook <url>", "where notices are POSTed (https://, or http:// on loopback)")
    .option("--threshold <share>", "slo: fires under it (e.g. 0.99); error_rate: fires above it (e.g. 0.05)", share)
    .option("--window <seconds>", "slo and error_rate: the window, 10 to 3600 s", positiveInteger)
    .addOption(new Option("--tier <tier>", "slo: the tier (default premium); error_rate: one tier only").choices(TIER_NAMES))
    .option("--model <model>", "slo and error_rate: one model only")
    .option("--min-requests <n>", "slo and error_rate: fewer answers in the window never fire (default 1)", positiveInteger)
    .option("--for <seconds>", "origin_down: how long the origin must be down", positiveInteger)
    .option("--origin <id>", "origin_down: one origin (default: any)")
    .action(async (name: string, options: Record<string, string | number | undefined>, command: Command) => {
      const { client, json } = contextOf(command);
      const fieldOf: Record<string, string> = { window: "window_seconds", minRequests: "min_requests", for: "for_seconds" };
      const body = Object.fromEntries(Object.entries(options).flatMap(([key, value]) => (value === undefined ? [] : [[fieldOf[key] ?? key, value]])));
      const saved = await client.send<{ name: string; rule: AlertView["rule"] }>("PUT", `/admin/alerts/${encodeURIComponent(name)}`, body);
      answer(json, saved, (value) => `alert ${value.name}: ${value.rule.kind}, ${condition(value.rule)}, to ${value.rule.webhook}`);
    });

  alerts
    .command("delete")
    .description("remove a rule (notices it already decided are still delivered)")
    .argument("<name>", "the rule's name")
    .action(async (name: string, _options: object, command: Command) => {
      const { client, json } = contextOf(command);
      answer(json, await client.send<{ deleted: string }>("DELETE", `/admin/alerts/${encodeURIComponent(name)}`), (value) => `deleted alert ${value.deleted}`);
    });
  return alerts;
}
