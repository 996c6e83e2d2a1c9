/**
 * @module Runs one `hotpath` command line. Every failure ends as one line on stderr and a
 * non-zero exit: 2 for a command line commander refused (it printed why and the usage line), 1
 * for a command that failed (describeFailure says why); never a stack trace.
 */
import { CommanderError } from "commander";
import { baseUrlOf, type GlobalOptions } from "./context.ts";
import { describeFailure } from "./errors.ts";
import { buildProgram } from "./program.ts";

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const options = program.opts<GlobalOptions>();
    let url: string;
    try {
      url = baseUrlOf(options);
    } catch {
      url = options.url ?? "";
    }
    process.stderr.write(`error: ${describeFailure(error, url)}\n`);
    return 1;
  }
}
