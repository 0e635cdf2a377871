import { AtlasClient, API_VERSIONS } from "../../../provider/engines/atlas/client";
import { AtlasApiError } from "../../../provider/engines/atlas/errors";
import { ServiceAccountAuthenticator } from "../../../provider/engines/atlas/auth";
import { parseAuthHeader } from "../../../provider/engines/http/digest";
import type { HttpRequest, HttpTransport } from "../../../provider/engines/http/transport";
import { nodeTransport } from "../../../provider/engines/http/transport";
import type { LiveMigrationRequest } from "../../../provider/engines/atlas/types";
import { AtlasApiEmulator } from "../../../testing/atlas-emulator";
import { makeContext } from "../../support/context";
import { API_KEY, ATLAS_PROJECT_ID, CM_PROJECT_ID, ORG_ID, SERVICE_ACCOUNT, startEmulator } from "./fixtures";

function body(overrides: Partial<LiveMigrationRequest> = {}): LiveMigrationRequest {
  return {
    source: { clusterName: "rs0", groupId: CM_PROJECT_ID, managedAuthentication: false, ssl: true, username: "migrator", password: "pw-source-123" },
    destination: { clusterName: "Cluster0", groupId: ATLAS_PROJECT_ID, hostnameSchemaType: "PUBLIC" },
    migrationHosts: ["vm001.example.com"],
    dropDestinationData: false,
    ...overrides,
  };
}

/** Records every exchange the client makes, on top of the real node transport. */
function recording(): { transport: HttpTransport; sent: HttpRequest[] } {
  const sent: HttpRequest[] = [];
  return { sent, transport: async (req) => { sent.push(req); return nodeTransport(req); } };
}

describe("Atlas Admin API client against the emulator", () => {
  let emulator: AtlasApiEmulator;
  beforeEach(async () => { emulator = await startEmulator(); });
  afterEach(async () => { await emulator.stop(); });

  const digestClient = (extra: Partial<ConstructorParameters<typeof AtlasClient>[0]> = {}) =>
    new AtlasClient({ credentials: { baseUrl: emulator.baseUrl, ...API_KEY }, random: () => 0.5, ...extra });

  test("digest: one challenge, then the nonce is reused with nc counting up", async () => {
    const ctx = makeContext();
    const rec = recording();
    const client = digestClient({ transport: rec.transport });
    await client.listAvailableProjects(ctx, ORG_ID);
    await client.listAvailableProjects(ctx, ORG_ID);
    await client.listAvailableProjects(ctx, ORG_ID);
    expect(emulator.requests.map((r) => r.status)).toEqual([401, 200, 200, 200]);
    const ncs = rec.sent.filter((r) => r.headers.Authorization).map((r) => parseAuthHeader(r.headers.Authorization)[0].params.nc);
    expect(ncs).toEqual(["00000001", "00000002", "00000003"]);
  });

  test("digest: concurrent requests share one nonce with distinct nc values and all succeed", async () => {
    const ctx = makeContext();
    const client = digestClient();
    await client.listAvailableProjects(ctx, ORG_ID);
    const results = await Promise.all(Array.from({ length: 10 }, () => client.listAvailableProjects(ctx, ORG_ID)));
    expect(results.every((r) => r.length === 1)).toBe(true);
    expect(emulator.requests.filter((r) => r.status === 401)).toHaveLength(1);
  });

  test("digest: SHA-256 is preferred when the server offers it", async () => {
    await emulator.stop();
    emulator = await startEmulator({ digestAlgorithms: ["SHA-256", "MD5"] });
    const rec = recording();
    await digestClient({ transport: rec.transport }).listAvailableProjects(makeContext(), ORG_ID);
    const last = rec.sent[rec.sent.length - 1];
    expect(parseAuthHeader(last.headers.Authorization)[0].params.algorithm).toBe("SHA-256");
  });

  test("digest: a stale nonce is re-challenged transparently", async () => {
    const ctx = makeContext();
    const client = digestClient();
    await client.listAvailableProjects(ctx, ORG_ID);
    emulator.expireNonces();
    await expect(client.listAvailableProjects(ctx, ORG_ID)).resolves.toHaveLength(1);
    expect(emulator.requests.map((r) => r.status)).toEqual([401, 200, 401, 200]);
  });

  test("digest: a wrong private key is a clear 401 error, not a loop, and the key never appears", async () => {
    const client = new AtlasClient({ credentials: { baseUrl: emulator.baseUrl, publicKey: API_KEY.publicKey, privateKey: "wrong-private-key-value" } });
    const err = (await client.listAvailableProjects(makeContext(), ORG_ID).catch((e) => e)) as AtlasApiError;
    expect(err).toBeInstanceOf(AtlasApiError);
    expect(err.status).toBe(401);
    expect(err.message).toMatch(/did not accept the credentials/);
    expect(err.message + err.stack).not.toContain("wrong-private-key-value");
    expect(emulator.requests).toHaveLength(2);
  });

  test("every operation sends its versioned Accept header", async () => {
    const rec = recording();
    const ctx = makeContext();
    const client = digestClient({ transport: rec.transport });
    const validation = await client.validate(ctx, ATLAS_PROJECT_ID, body());
    await client.getValidation(ctx, ATLAS_PROJECT_ID, validation._id);
    const migration = await client.createMigration(ctx, ATLAS_PROJECT_ID, body());
    await client.getMigration(ctx, ATLAS_PROJECT_ID, migration._id);
    await client.createLinkToken(ctx, ORG_ID, ["203.0.113.10"]);
    const accepted = Object.fromEntries(emulator.requests.filter((r) => r.status < 400).map((r) => [r.operation, r.apiVersion]));
    expect(accepted).toEqual({
      validate: API_VERSIONS.validate, getValidation: "2023-01-01", createMigration: "2024-05-30",
      getMigration: "2023-01-01", createLinkToken: "2023-01-01",
    });
    expect(rec.sent.find((r) => r.method === "POST")!.headers["Content-Type"]).toBe("application/vnd.atlas.2024-05-30+json");
  });

  test("429 with Retry-After waits at least that long, then succeeds", async () => {
    emulator.injectFault({ operation: "listAvailableProjects", status: 429, retryAfter: 7, times: 2 });
    const ctx = makeContext();
    const start = ctx.now();
    await expect(digestClient().listAvailableProjects(ctx, ORG_ID)).resolves.toHaveLength(1);
    expect(emulator.countByOperation((r) => r.status === 429)).toEqual({ listAvailableProjects: 2 });
    expect(ctx.now() - start).toBeGreaterThanOrEqual(14_000);
    expect(ctx.lines.filter((l) => /HTTP 429 to listAvailableProjects; retrying/.test(l))).toHaveLength(2);
  });

  test("429 without Retry-After backs off exponentially with jitter", async () => {
    emulator.injectFault({ operation: "getMigration", status: 429, times: 3 });
    const ctx = makeContext();
    const client = digestClient();
    const m = await client.createMigration(ctx, ATLAS_PROJECT_ID, body());
    const start = ctx.now();
    await client.getMigration(ctx, ATLAS_PROJECT_ID, m._id);
    // random() = 0.5: half of 2 s, 4 s, 8 s
    expect(ctx.now() - start).toBe(1000 + 2000 + 4000);
  });

  test("500 then success is retried for reads", async () => {
    emulator.injectFault({ operation: "listAvailableProjects", status: 500 });
    await expect(digestClient().listAvailableProjects(makeContext(), ORG_ID)).resolves.toHaveLength(1);
    expect(emulator.countByOperation((r) => r.status === 500)).toEqual({ listAvailableProjects: 1 });
  });

  test("a 500 on createMigration is not retried (there is no way to find a duplicate), a 503 is", async () => {
    const ctx = makeContext();
    emulator.injectFault({ operation: "createMigration", status: 503, retryAfter: 2 });
    await expect(digestClient().createMigration(ctx, ATLAS_PROJECT_ID, body())).resolves.toHaveProperty("_id");
    emulator.injectFault({ operation: "createMigration", status: 500, afterProcessing: true });
    const err = (await digestClient().createMigration(ctx, ATLAS_PROJECT_ID, body({ destination: { clusterName: "Other", groupId: ATLAS_PROJECT_ID, hostnameSchemaType: "PUBLIC" } })).catch((e) => e)) as AtlasApiError;
    expect(err).toBeInstanceOf(AtlasApiError);
    expect(err.status).toBe(500);
    expect(emulator.countByOperation((r) => r.status === 500)).toEqual({ createMigration: 1 });
  });

  test("retries stop at the operation's deadline with a gave-up error", async () => {
    emulator.injectFault({ operation: "listAvailableProjects", status: 429, retryAfter: 30, times: 100 });
    const ctx = makeContext({ deadlineMs: 100_000 });
    const err = (await digestClient().listAvailableProjects(ctx, ORG_ID).catch((e) => e)) as AtlasApiError;
    expect(err).toBeInstanceOf(AtlasApiError);
    expect(err.gaveUp).toEqual({ attempts: 4, reason: "deadline" });
    expect(err.message).toMatch(/kept answering HTTP 429 .*gave up after 4 attempt\(s\).*deadline/);
    expect(ctx.now()).toBeLessThanOrEqual(ctx.deadline);
  });

  test("400 field violations become `Atlas rejected <field>: …`", async () => {
    const ctx = makeContext();
    const err = (await digestClient().validate(ctx, ATLAS_PROJECT_ID, body({ migrationHosts: [] })).catch((e) => e)) as AtlasApiError;
    expect(err.status).toBe(400);
    expect(err.errorCode).toBe("VALIDATION_ERROR");
    expect(err.fieldViolations).toEqual([{ field: "migrationHosts", description: "Must list exactly one migration host." }]);
    expect(err.message).toBe("Atlas rejected migrationHosts: Must list exactly one migration host. (VALIDATION_ERROR)");
    expect(emulator.countByOperation()).toEqual({ validate: 2 });
  });

  test("injected field violation on source.groupId reads as the issue describes", async () => {
    emulator.injectFault({
      operation: "validate", status: 400, detail: "Invalid attribute.",
      fields: [{ field: "source.groupId", description: "Cloud Manager project not found" }],
    });
    await expect(digestClient().validate(makeContext(), ATLAS_PROJECT_ID, body())).rejects.toThrow(
      "Atlas rejected source.groupId: Cloud Manager project not found (VALIDATION_ERROR)",
    );
  });

  test("410 VERSION_GONE tells the user to upgrade", async () => {
    await emulator.stop();
    emulator = await startEmulator({ sunsetVersions: ["2023-01-01"] });
    const err = (await digestClient().listAvailableProjects(makeContext(), ORG_ID).catch((e) => e)) as AtlasApiError;
    expect(err.status).toBe(410);
    expect(err.message).toMatch(/no longer serves API version 2023-01-01 .*VERSION_GONE.*Upgrade pulumi-atlas-migration/);
  });

  test("404 and 409 are typed, not retried", async () => {
    const ctx = makeContext();
    const client = digestClient();
    const notFound = (await client.getMigration(ctx, ATLAS_PROJECT_ID, "0123456789abcdef01234567").catch((e) => e)) as AtlasApiError;
    expect([notFound.status, notFound.errorCode]).toEqual([404, "RESOURCE_NOT_FOUND"]);
    emulator.injectFault({ operation: "deleteLinkTokens", status: 409 });
    const conflict = (await client.deleteLinkTokens(ctx, ORG_ID).catch((e) => e)) as AtlasApiError;
    expect([conflict.status, conflict.errorCode]).toEqual([409, "CANNOT_DELETE_ORG_ACTIVE_LIVE_MIGRATION_ATLAS_ORG_LINK"]);
    expect(emulator.countByOperation((r) => r.status >= 400 && r.status !== 401)).toEqual({ getMigration: 1, deleteLinkTokens: 1 });
  });

  test("ids are checked before they reach the URL", async () => {
    await expect(digestClient().getMigration(makeContext(), "../../orgs", "x")).rejects.toThrow(/24-character hex id/);
    expect(emulator.requests).toHaveLength(0);
  });

  test("an unreachable Atlas is retried until the deadline, then reported without a stack", async () => {
    await emulator.stop();
    const client = new AtlasClient({ credentials: { baseUrl: emulator.baseUrl, ...API_KEY } });
    const err = (await client.listAvailableProjects(makeContext({ deadlineMs: 20_000 }), ORG_ID).catch((e) => e)) as AtlasApiError;
    expect(err).toBeInstanceOf(AtlasApiError);
    expect(err.message).toMatch(/^Atlas could not be reached \(could not reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)\) while listing/);
    emulator = await startEmulator(); // afterEach stops it
  });
});

describe("service-account auth", () => {
  let emulator: AtlasApiEmulator;
  let virtualNow: () => number;
  beforeEach(async () => {
    const ctx = makeContext();
    virtualNow = ctx.now;
    emulator = await startEmulator({ now: () => virtualNow(), tokenLifetimeSeconds: 3600 });
  });
  afterEach(async () => { await emulator.stop(); });

  const saClient = () => new AtlasClient({ credentials: { baseUrl: emulator.baseUrl, ...SERVICE_ACCOUNT }, random: () => 0.5 });

  test("concurrent calls share exactly one token request, and the token is reused", async () => {
    const ctx = makeContext();
    virtualNow = ctx.now;
    const client = saClient();
    await Promise.all(Array.from({ length: 8 }, () => client.listAvailableProjects(ctx, ORG_ID)));
    await client.listAvailableProjects(ctx, ORG_ID);
    expect(emulator.countByOperation()).toEqual({ oauthToken: 1, listAvailableProjects: 9 });
    expect(emulator.requests.filter((r) => r.operation === "listAvailableProjects").every((r) => r.auth === "bearer" && r.status === 200)).toBe(true);
    expect((client.auth as ServiceAccountAuthenticator).tokenRequests).toBe(1);
  });

  test("the token is refreshed shortly before it expires, not after", async () => {
    // The virtual clock moves ~59 minutes: the call's deadline must lie beyond that, or every exchange after the
    // jump gets the 1-second floor of requestTimeoutMs as its real socket timeout and fails on a loaded machine.
    const ctx = makeContext({ deadlineMs: 3 * 3600_000 });
    virtualNow = ctx.now;
    const rec = recording();
    const client = new AtlasClient({ credentials: { baseUrl: emulator.baseUrl, ...SERVICE_ACCOUNT }, random: () => 0.5, transport: rec.transport });
    await client.listAvailableProjects(ctx, ORG_ID);
    ctx.advance(3600_000 - 61_000);
    await client.listAvailableProjects(ctx, ORG_ID);
    expect(emulator.countByOperation((r) => r.operation === "oauthToken")).toEqual({ oauthToken: 1 });
    ctx.advance(2_000); // inside the last minute: refresh before use
    await client.listAvailableProjects(ctx, ORG_ID);
    expect(emulator.countByOperation((r) => r.operation === "oauthToken")).toEqual({ oauthToken: 2 });
    expect(emulator.requests.every((r) => r.status === 200)).toBe(true);
    // No exchange ran with a socket timeout short enough for a loaded machine to miss (the old test: 1 s).
    expect(Math.min(...rec.sent.map((r) => r.timeoutMs ?? Infinity))).toBeGreaterThanOrEqual(60_000);
  });

  test("a 401 with a cached token triggers one refresh and one retry", async () => {
    const ctx = makeContext();
    virtualNow = ctx.now;
    const client = saClient();
    await client.listAvailableProjects(ctx, ORG_ID);
    emulator.expireTokens();
    await Promise.all([client.listAvailableProjects(ctx, ORG_ID), client.listAvailableProjects(ctx, ORG_ID)]);
    expect(emulator.countByOperation((r) => r.operation === "oauthToken")).toEqual({ oauthToken: 2 });
    expect(emulator.requests.filter((r) => r.status === 401)).toHaveLength(2);
  });

  test("wrong client secret: a clear error naming the service account, secret masked", async () => {
    const client = new AtlasClient({ credentials: { baseUrl: emulator.baseUrl, clientId: SERVICE_ACCOUNT.clientId, clientSecret: "mdb_sa_sk_wrongwrongwrong" } });
    const err = (await client.listAvailableProjects(makeContext(), ORG_ID).catch((e) => e)) as AtlasApiError;
    expect(err.status).toBe(401);
    expect(err.operation).toBe("oauthToken");
    expect(err.message).toMatch(/service-account access token/);
    expect(err.message).not.toContain("wrongwrong");
  });

  test("a rate-limited token endpoint is retried", async () => {
    emulator.injectFault({ operation: "oauthToken", status: 429, retryAfter: 3 });
    await expect(saClient().listAvailableProjects(makeContext(), ORG_ID)).resolves.toHaveLength(1);
    expect(emulator.countByOperation()).toEqual({ oauthToken: 2, listAvailableProjects: 1 });
  });

  test("no credentials at all is a configuration error", () => {
    expect(() => new AtlasClient({ credentials: { baseUrl: emulator.baseUrl } })).toThrow(/no Atlas API credentials/);
  });
});
