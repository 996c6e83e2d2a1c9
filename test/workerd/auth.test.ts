/** Keys: missing, unknown, revoked and foreign keys, and tenant keys on admin routes. */
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN, call, createTenant, ensureDemoModel, inferJson } from "./helpers.ts";
import { sha256Hex } from "../../protocol/sha256.ts";
import { loadFixture } from "./fixtures.ts";

let inputs: unknown;

beforeAll(async () => {
  await ensureDemoModel("mlp-tiny");
  await ensureDemoModel("silero-vad");
  inputs = (await loadFixture("mlp-tiny")).inputs;
});

describe("routes with and without a trailing slash", () => {
  it("GET /v2/ (the OIP spec's path for server metadata) answers as /v2 does; a model's metadata too", async () => {
    const key = await createTenant("slashes", "standard", ["*"]);
    for (const path of ["/v2", "/v2/"]) {
      const response = await call(path);
      expect(response.status, path).toBe(200);
      expect(((await response.json()) as { name: string }).name, path).toBe("hotpath");
    }
    for (const path of ["/v2/models/mlp-tiny", "/v2/models/mlp-tiny/"]) expect((await call(path, { key })).status, path).toBe(200);
    expect((await call("/v2/health/ready/")).status).toBe(200);
  });
});

describe("tenant keys", () => {
  it("no key is 401", async () => {
    const response = await call("/v2/models/mlp-tiny/infer", { method: "POST", body: JSON.stringify({ inputs }) });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toMatch(/missing API key/);
  });

  it("an unknown key is 401", async () => {
    const response = await inferJson("mlp-tiny", "hp_not-a-real-key", { inputs });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toMatch(/unknown API key/);
  });

  it("a key for other models is 403 on inference and metadata", async () => {
    const key = await createTenant("only-vad", "free", ["silero-vad"]);
    const infer = await inferJson("mlp-tiny", key, { inputs });
    expect(infer.status).toBe(403);
    expect(((await infer.json()) as { error: string }).error).toMatch(/mlp-tiny/);
    expect((await call("/v2/models/mlp-tiny", { key })).status).toBe(403);
    expect((await call("/v2/models/silero-vad", { key })).status).toBe(200);
  });

  it("a wildcard tenant may use models uploaded later", async () => {
    const key = await createTenant("everything", "premium", ["*"]);
    expect((await inferJson("mlp-tiny", key, { inputs })).status).toBe(200);
  });

  it("a revoked key is 401", async () => {
    await call("/admin/tenants/revoked", { method: "PUT", key: ADMIN, body: JSON.stringify({ tier: "free", models: ["*"] }) });
    const created = (await (await call("/admin/tenants/revoked/keys", { method: "POST", key: ADMIN })).json()) as { key: string; keyId: string };
    // Hex, never starting with '-': `hotpath keys revoke revoked <keyId>` must not read it as an option.
    expect(created.keyId).toMatch(/^[0-9a-f]{18}$/);
    expect((await inferJson("mlp-tiny", created.key, { inputs })).status).toBe(200);
    const revoked = await call(`/admin/tenants/revoked/keys/${created.keyId}`, { method: "DELETE", key: ADMIN });
    expect(revoked.status).toBe(200);
    expect((await inferJson("mlp-tiny", created.key, { inputs })).status).toBe(401);
  });

  it("a known key is hashed once per isolate, an unknown one on every request", async () => {
    const key = await createTenant("hashed-once", "premium", ["*"]);
    const unknown = `hp_${"A".repeat(43)}`;
    expect((await call("/v2/models/mlp-tiny", { key })).status).toBe(200);
    const subtle = crypto.subtle;
    const original = subtle.digest;
    const digest = original.bind(subtle);
    const hashed: string[] = [];
    // A counting wrapper around the real digest: which keys the router hashes while it serves.
    subtle.digest = ((algorithm: Parameters<typeof original>[0], data: BufferSource) => {
      const text = new TextDecoder().decode(data as ArrayBuffer);
      if (text === key || text === unknown) hashed.push(text === key ? "known" : "unknown");
      return digest(algorithm, data);
    }) as typeof subtle.digest;
    try {
      for (let i = 0; i < 3; i++) expect((await call("/v2/models/mlp-tiny", { key })).status).toBe(200);
      for (let i = 0; i < 2; i++) expect((await call("/v2/models/mlp-tiny", { key: unknown })).status).toBe(401);
    } finally {
      subtle.digest = original;
    }
    expect(hashed).toEqual(["unknown", "unknown"]);
  });

  it("keys are stored only as hashes", async () => {
    const key = await createTenant("hashed", "free");
    const { env } = await import("cloudflare:workers");
    const listed = await env.KEYS.list();
    for (const entry of listed.keys) {
      expect(entry.name).not.toContain(key);
      expect(await env.KEYS.get(entry.name)).not.toContain(key);
    }
  });
});

describe("admin routes", () => {
  it("a tenant key on an admin route is 403", async () => {
    const key = await createTenant("sneaky", "premium");
    expect((await call("/admin/models", { key })).status).toBe(403);
    expect((await call("/admin/tenants/sneaky/keys", { method: "POST", key })).status).toBe(403);
    expect((await call("/v2/repository/index", { method: "POST", key })).status).toBe(403);
  });

  it("no token is 401, a wrong token is 401", async () => {
    expect((await call("/admin/models")).status).toBe(401);
    expect((await call("/admin/models", { key: "wrong" })).status).toBe(401);
  });

  it("a bad tier is 400", async () => {
    const response = await call("/admin/tenants/x", { method: "PUT", key: ADMIN, body: JSON.stringify({ tier: "gold" }) });
    expect(response.status).toBe(400);
  });
});

describe("admin errors keep their status across the registry", () => {
  it("deleting or pinning an unknown version is 404, not 500", async () => {
    const del = await call("/admin/models/mlp-tiny/versions/99", { method: "DELETE", key: ADMIN });
    expect(del.status).toBe(404);
    expect(((await del.json()) as { error: string }).error).toMatch(/99/);
    expect((await call("/admin/models/nomodel/versions/1", { method: "DELETE", key: ADMIN })).status).toBe(404);
    const pin = await call("/admin/models/mlp-tiny/default", { method: "PUT", key: ADMIN, body: JSON.stringify({ version: "99" }) });
    expect(pin.status).toBe(404);
  });

  it("the catalog shows each model's default version", async () => {
    const body = (await (await call("/admin/models", { key: ADMIN })).json()) as { models: { name: string; defaultVersion?: string }[] };
    expect(body.models.find((m) => m.name === "mlp-tiny")?.defaultVersion).toBe("1");
  });
});

describe("internal routes for the origin pool", () => {
  const ORIGIN = "test-origin-token";

  it("refuse calls without the shared origin token", async () => {
    const tenantKey = await createTenant("internal-probe", "premium");
    expect((await call("/internal/models/mlp-tiny/versions/1/bytes")).status).toBe(401);
    expect((await call("/internal/models/mlp-tiny/versions/1/bytes", { key: tenantKey })).status).toBe(403);
    expect((await call("/internal/models/mlp-tiny/versions/1/bytes", { key: ADMIN })).status).toBe(403);
  });

  it("serve a version's record and bytes, with the sha256 the bytes have", async () => {
    const record = (await (await call("/internal/models/mlp-tiny/versions/1", { key: ORIGIN })).json()) as { sha256: string; inputs: unknown[] };
    expect(record.inputs.length).toBe(1);
    const response = await call("/internal/models/mlp-tiny/versions/1/bytes", { key: ORIGIN });
    expect(response.status).toBe(200);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const digest = await sha256Hex(bytes);
    expect(response.headers.get("x-model-sha256")).toBe(record.sha256);
    expect(digest).toBe(record.sha256);
    expect((await call("/internal/models/mlp-tiny/versions/9/bytes", { key: ORIGIN })).status).toBe(404);
  });
});
