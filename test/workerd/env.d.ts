/** Bindings only the tests have (see vitest.config.ts). */
declare namespace Cloudflare {
  interface Env {
    FIXTURES: Fetcher;
  }
}
