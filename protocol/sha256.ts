/** @module SHA-256 as lowercase hex, with Web Crypto (Workers and Node alike). */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

/** A digest as lowercase hex (also for digests computed while streaming, e.g. a DigestStream's). */
export function hex(digest: ArrayBuffer): string {
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
