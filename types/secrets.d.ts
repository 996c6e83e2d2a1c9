/**
 * Secrets are not in wrangler.toml, so `wrangler types` cannot see them on a fresh clone.
 * Set with `wrangler secret put ADMIN_TOKEN` in production; `.dev.vars` locally.
 */
interface Env {
  ADMIN_TOKEN: string;
  /** Shared with the origin servers: they fetch models with it, the edge calls them with it. */
  ORIGIN_TOKEN: string;
}
declare namespace Cloudflare {
  interface Env {
    ADMIN_TOKEN: string;
    ORIGIN_TOKEN: string;
  }
}
