/**
 * @module What the CLI prints when a command fails: one line naming the cause (a connection
 * refused, a host that does not resolve, a token the server refuses, a server that is not
 * hotpath, a missing file) and what to do about it; never a stack trace.
 */
import { AdminApiError } from "../lib/admin-client.ts";

/** A failure whose message is already what the user should read. */
export class CliError extends Error {
  override readonly name = "CliError";
}

/** The system error code of a failed connection: node:http puts it on the error, fetch on its cause. */
function networkCode(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^(E[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
  }
  return undefined;
}

function describeNetworkError(code: string, url: string): string {
  const host = URL.canParse(url) ? new URL(url).hostname : url;
  switch (code) {
    case "ECONNREFUSED":
      return `cannot reach ${url}: connection refused (is hotpath running there? set --url or HOTPATH_URL)`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return `cannot reach ${url}: the host '${host}' does not resolve (DNS ${code})`;
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
      return `the connection to ${url} was cut (${code}); the server keeps nothing of a request it did not finish`;
    case "ETIMEDOUT":
    case "UND_ERR_CONNECT_TIMEOUT":
      return `cannot reach ${url}: the connection timed out`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `cannot reach ${url}: no route to the host (${code})`;
    default:
      return `cannot reach ${url}: ${code}`;
  }
}

function describeAnswer(error: AdminApiError, url: string): string {
  if (error.foreign) {
    const type = error.contentType ? ` ${error.contentType.split(";")[0]}` : "";
    return `${url} is not a hotpath server: ${error.request} answered ${error.status}${type} (check --url or HOTPATH_URL)`;
  }
  if (error.status === 401) return `${url} refused the admin token (${error.message}): pass the right one with --admin-token or HOTPATH_ADMIN_TOKEN`;
  if (error.status === 403) return `${url} refused the token (${error.message}): admin commands need the admin token, not a tenant key`;
  return error.message;
}

/** One line for any failure; `url` is the server the command talked to. */
export function describeFailure(error: unknown, url: string): string {
  let line: string;
  if (error instanceof AdminApiError) line = describeAnswer(error, url);
  else if (error instanceof Error && error.name === "TimeoutError") line = `${url} did not answer in time`;
  else {
    const code = networkCode(error);
    if (code) line = describeNetworkError(code, url);
    // fetch's own refusals (a port the Fetch standard blocks, a bad header) say why in the cause.
    else if (error instanceof TypeError && error.message === "fetch failed" && error.cause instanceof Error)
      line = `cannot reach ${url}: ${error.cause.message}`;
    else line = error instanceof Error ? error.message : String(error);
  }
  // Whatever the cause said, it stays one line.
  return line.replace(/\s*\n\s*/g, " ").trim();
}
