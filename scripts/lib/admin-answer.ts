/**
 * @module How the admin client reads an answer: JSON on success, else an AdminApiError with the
 * server's `{"error"}` message, marked `foreign` when the answer is not in hotpath's shape (the
 * URL most likely points at another server). Shared by the JSON calls and the streamed uploads.
 */

/**
 * An HTTP error answer, carrying the server's `{"error": "..."}` message and status. `foreign`:
 * the answer is not in hotpath's shape (an error without `{"error"}`, a success that is not
 * JSON), so the URL most likely points at another server.
 */
export class AdminApiError extends Error {
  override readonly name = "AdminApiError";
  readonly status: number;
  readonly foreign: boolean;
  /** What was asked, e.g. `GET /admin/models`, and the answer's content type: for messages about a foreign server. */
  readonly request: string;
  readonly contentType: string;
  constructor(status: number, message: string, details: { foreign?: boolean; request?: string; contentType?: string } = {}) {
    super(`${status}: ${message}`);
    this.status = status;
    this.foreign = details.foreign ?? false;
    this.request = details.request ?? "";
    this.contentType = details.contentType ?? "";
  }
}

/** The `{"error"}` message of an error body, or undefined when the body is not in that shape. */
function hotpathError(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed?.error === "string") return parsed.error;
  } catch {
    // not JSON: not hotpath's shape
  }
  return undefined;
}

/** Reads an answer: JSON on 2xx, else the AdminApiError it stands for (marked foreign when not in hotpath's shape). */
export function readAnswer<T>(status: number, contentType: string, text: string, request: string): T {
  if (status >= 200 && status < 300) {
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AdminApiError(status, `the answer is not JSON (${contentType || "no content type"})`, { foreign: true, request, contentType });
    }
  }
  const message = hotpathError(text);
  if (message !== undefined) throw new AdminApiError(status, message, { request, contentType });
  throw new AdminApiError(status, text.slice(0, 300).trim() || "(empty body)", { foreign: true, request, contentType });
}
