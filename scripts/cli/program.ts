/**
 * @module The `hotpath` command tree (commander): the shared options, the command groups, and
 * after a parsing error the command's own usage line. Nothing here touches the network, so
 * test/node/cli-arguments.test.ts parses with it directly.
 */
import { Command } from "commander";
import { keysCommand, tenantsCommand } from "./commands/tenants.ts";
import { modelsCommand } from "./commands/models.ts";
import { usageCommand } from "./commands/operations.ts";
import { statusCommand } from "./commands/status.ts";
import { alertsCommand } from "./commands/alerts.ts";

function everyCommand(command: Command): Command[] {
  return [command, ...command.commands.flatMap(everyCommand)];
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current; current = current.parent) names.unshift(current.name());
  return names.join(" ");
}

export interface ProgramOutput {
  writeOut(text: string): void;
  writeErr(text: string): void;
}

/** `output` replaces stdout and stderr for commander's own messages (help, usage errors), for tests. */
export function buildProgram(output?: ProgramOutput): Command {
  const program = new Command("hotpath")
    .description("operate a hotpath server: models, tenants and their keys, usage, status, alerts")
    .option("--url <url>", "the server (default: HOTPATH_URL, else the local stack on http://127.0.0.1:8787)")
    .option("--admin-token <token>", "the admin token (default: HOTPATH_ADMIN_TOKEN, else the local stack's .hotpath/demo-keys.json)")
    .option("--json", "print the answer as JSON (for scripts)")
    .addCommand(modelsCommand())
    .addCommand(tenantsCommand())
    .addCommand(keysCommand())
    .addCommand(usageCommand())
    .addCommand(statusCommand())
    .addCommand(alertsCommand());
  // addCommand copies no settings: each command gets them here, with its own usage line.
  for (const command of everyCommand(program)) {
    command
      .exitOverride()
      .showSuggestionAfterError()
      .showHelpAfterError(`usage: ${commandPath(command)} ${command.usage()} (--help for more)`);
    if (output) command.configureOutput(output);
  }
  return program;
}
