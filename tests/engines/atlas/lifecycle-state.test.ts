// atlas-push: Atlas live migration's cleanup (the link token), state derived from Atlas's answer and the stored
// phase (never from process memory), the 120-hour cutover window, preflight against what Cloud Manager reports,
// and credentials (input, gov cloud, access token). Against the Atlas emulator on 127.0.0.1.
import { engineFor } from "../../../provider/engines/registry";
import { AtlasLinkPendingError, atlasCredentialsFor } from "../../../provider/engines/atlas";
import { AtlasClient, GOV_ATLAS_BASE_URL } from "../../../provider/engines/atlas/client";
import type { EngineCredentials, MigrationHandle, MigrationSpec } from "../../../provider/engines/engine";
import { AtlasApiEmulator, type AtlasEmulatorOptions } from "../../../testing/atlas-emulator";
import { makeContext, type TestContext } from "../../support/context";
import { API_KEY, CM_PROJECT_ID, ORG_ID, SERVICE_ACCOUNT, cloudManagerProject, pushSpec, startEmulator } from "./fixtures";

const engine = engineFor("atlas-push");
let emulator: AtlasApiEmulator;
let credentials: EngineCredentials;
let counter = 0;

async function boot(opts: AtlasEmulatorOptions = {}): Promise<void> {
  emulator = await startEmulator(opts);
  credentials = { atlas: { baseUrl: emulator.baseUrl, ...API_KEY } };
}
afterEach(async () => {
  await emulator?.stop();
});

// The deadline lies beyond every jump of the virtual clock below, so no real exchange gets the 1 s floor of
// requestTimeoutMs as its socket timeout (a loaded machine would fail it).
const ctx = (extra: Partial<TestContext> = {}): TestContext => Object.assign(makeContext({ credentials, deadlineMs: 200 * 3600_000 }), extra);
const spec = (overrides: Partial<MigrationSpec> = {}): MigrationSpec => pushSpec({ migrationId: `state-${++counter}`, ...overrides });
const withLinkToken = (s: MigrationSpec): MigrationSpec => ({ ...s, atlasPush: { ...s.atlasPush!, createLinkToken: true } });

async function ready(s: MigrationSpec, c: TestContext): Promise<MigrationHandle> {
  const handle = await engine.start(s, c);
  expect((await engine.advance(s, handle, c)).phase).toBe("READY_FOR_CUTOVER");
  return handle;
}

describe("the link token: one per org while pending, deleted at COMPLETE and by destroy after COMPLETE", () => {
  test("a pending link reuses the token in state instead of minting one that supersedes it", async () => {
    await boot({ orgs: [{ orgId: ORG_ID, availableProjects: [cloudManagerProject()], linked: false }] });
    const s = withLinkToken(spec());
    const first = ctx();
    await expect(engine.start(s, first)).rejects.toBeInstanceOf(AtlasLinkPendingError);
    const token = first.secrets.linkToken;
    expect(emulator.linkTokens(ORG_ID)).toEqual([token]);
    // The next `pulumi up` (a new process) gets the stored token from the provider.
    const second = ctx({ stored: { linkToken: token } });
    await expect(engine.start(s, second)).rejects.toBeInstanceOf(AtlasLinkPendingError);
    expect(second.secrets.linkToken).toBe(token);
    expect(emulator.countByOperation().createLinkToken).toBe(1);
    expect(emulator.linkTokens(ORG_ID)).toEqual([token]);
  });

  test("COMPLETE deletes the org's link token (before: 1 token after COMPLETE, 0 delete calls)", async () => {
    await boot({ orgs: [{ orgId: ORG_ID, availableProjects: [cloudManagerProject()], linked: false, linkAfterPolls: 1 }] });
    const s = withLinkToken(spec());
    const c = ctx();
    await expect(engine.start(s, c)).rejects.toBeInstanceOf(AtlasLinkPendingError);
    emulator.pasteLinkToken(ORG_ID);
    const handle = await ready(s, ctx({ stored: { linkToken: c.secrets.linkToken } }));
    expect(emulator.linkTokens(ORG_ID)).toHaveLength(1);
    const report = await engine.cutover(s, handle, ctx({ stored: { phase: "READY_FOR_CUTOVER" } }));
    expect(report.warnings.join("\n")).toMatch(/deleted the live-migration link token of Atlas org/);
    expect(emulator.linkTokens(ORG_ID)).toHaveLength(0);
    expect(emulator.countByOperation().deleteLinkTokens).toBe(1);
  });

  test("destroy after COMPLETE (cleanupAfterComplete) deletes a token still there, and is idempotent", async () => {
    await boot();
    const s = withLinkToken(spec());
    const handle = await ready(s, ctx());
    emulator.setStage(handle.id, "COMPLETE");
    // A token minted for this org (e.g. the link was made by hand): still live after COMPLETE.
    await new AtlasClient({ credentials: credentials.atlas! }).createLinkToken(ctx(), ORG_ID);
    expect(emulator.linkTokens(ORG_ID)).toHaveLength(1);
    const first = await engine.cleanupAfterComplete!(s, handle, ctx());
    expect(first.warnings.join("\n")).toMatch(/deleted the live-migration link token/);
    expect(emulator.linkTokens(ORG_ID)).toHaveLength(0);
    await expect(engine.cleanupAfterComplete!(s, handle, ctx())).resolves.toBeDefined();
  });

  test("while another migration of the org is active, the token is kept with a warning that says how to delete it", async () => {
    await boot();
    const s = withLinkToken(spec());
    const other = spec({ target: { atlas: { projectId: s.target.atlas!.projectId, clusterName: "Other", tier: "M40" } } });
    await engine.start(other, ctx());
    const handle = await ready(s, ctx());
    await new AtlasClient({ credentials: credentials.atlas! }).createLinkToken(ctx(), ORG_ID);
    emulator.setStage(handle.id, "COMPLETE");
    const report = await engine.cleanupAfterComplete!(s, handle, ctx());
    expect(report.warnings.join("\n")).toMatch(/kept the live-migration link token .* `atlas liveMigrations link delete`/);
    expect(emulator.linkTokens(ORG_ID)).toHaveLength(1);
  });
});

describe("cutover state comes from Atlas's answer and the stored phase", () => {
  test("a cutover under way reads CUTTING_OVER in a process that never asked for it (stored phase)", async () => {
    await boot({ scenario: { cutoverPolls: 50 } });
    const s = spec();
    const handle = await ready(s, ctx());
    emulator.setStage(handle.id, "CUTTING_OVER");
    expect((await engine.status(s, handle, ctx({ stored: { phase: "CUTTING_OVER" } }))).phase).toBe("CUTTING_OVER");
  });

  test("a cutover started from the Atlas UI (stored READY_FOR_CUTOVER, Atlas stops reporting lag) reads CUTTING_OVER, and cutover does not PUT again", async () => {
    await boot({ scenario: { cutoverPolls: 2 } });
    const s = spec();
    const handle = await ready(s, ctx());
    emulator.setStage(handle.id, "CUTTING_OVER");
    const c = ctx({ stored: { phase: "READY_FOR_CUTOVER" } });
    expect((await engine.status(s, handle, c)).phase).toBe("CUTTING_OVER");
    await expect(engine.cutover(s, handle, c)).resolves.toMatchObject({ phase: "COMPLETE" });
    expect(emulator.countByOperation().cutover ?? 0).toBe(0);
  });

  test("without a stored phase Atlas's answer alone decides (the initial copy reads COPYING)", async () => {
    await boot({ scenario: { copyPolls: 50 } });
    const s = spec();
    const handle = await engine.start(s, ctx());
    emulator.setStage(handle.id, "COPYING");
    expect((await engine.status(s, handle, ctx())).phase).toBe("COPYING");
  });
});

describe("the 120-hour cutover window", () => {
  test("every status carries the earliest deadline; from 24 h before it, a warning and the progress line say so", async () => {
    await boot();
    const s = spec();
    const c = ctx();
    const handle = await ready(s, c);
    const early = await engine.status(s, handle, c);
    const deadline = new Date(Date.parse(handle.startedAt) + 120 * 3600_000).toISOString();
    expect(early.details?.cutoverDeadline).toBe(deadline);
    expect(early.warnings.join("\n")).not.toMatch(/cutover window/);
    c.advance(97 * 3600_000);
    const late = await engine.status(s, handle, c);
    expect(late.warnings.join("\n")).toMatch(new RegExp(`120-hour cutover window can close as early as ${deadline.replace(/\./g, "\\.")} \\(23 h from now`));
    c.lines.length = 0;
    await engine.advance(s, handle, c);
    expect(c.lines.join("\n")).toMatch(/READY_FOR_CUTOVER .*120-hour cutover window/);
  });
});

describe("preflight against what Cloud Manager reports (tlsEnabled, managed)", () => {
  test("ssl that disagrees with tlsEnabled, and managedAuthentication on a cluster Automation does not manage, are named", async () => {
    await boot();
    const s = spec({ source: { cloudManager: { groupId: CM_PROJECT_ID, clusterName: "rs0", ssl: false, managedAuthentication: true } } });
    const report = await engine.preflight(s, ctx());
    const codes = report.warnings.map((w) => w.code);
    expect(codes).toEqual(expect.arrayContaining(["SOURCE_TLS_MISMATCH", "SOURCE_NOT_AUTOMATION_MANAGED"]));
    expect(report.warnings.find((w) => w.code === "SOURCE_TLS_MISMATCH")!.action).toMatch(/ssl: true/);
    expect(report.facts).toMatchObject({ sourceTlsEnabled: true, sourceManagedByAutomation: false });
  });

  test("matching settings give no such warning", async () => {
    await boot();
    const report = await engine.preflight(spec(), ctx());
    expect(report.warnings.map((w) => w.code)).not.toContain("SOURCE_TLS_MISMATCH");
  });

  test("the emulator's validation fails a TLS mismatch the way a real connection would (strict reading)", async () => {
    await boot();
    const s = spec({ source: { cloudManager: { groupId: CM_PROJECT_ID, clusterName: "rs0", username: "m", password: "pw-123456", ssl: false } } });
    await expect(engine.start(s, ctx())).rejects.toThrow(/TLS is required on the source/);
  });
});

describe("credentials", () => {
  test("atlasCredentials in the spec win over stack config as a whole; base URL falls back", () => {
    const c = makeContext({ credentials: { atlas: { baseUrl: "http://127.0.0.1:9", publicKey: "cfg", privateKey: "cfg-secret" } } });
    expect(atlasCredentialsFor(spec(), c)).toEqual(c.credentials.atlas);
    expect(atlasCredentialsFor(spec({ atlasCredentials: { clientId: "id", clientSecret: "sec-secret" } }), c)).toEqual({
      clientId: "id", clientSecret: "sec-secret", baseUrl: "http://127.0.0.1:9", isMongodbgovCloud: undefined,
    });
  });

  test("isMongodbgovCloud points the client at Atlas for Government unless a baseUrl is given", () => {
    expect(new AtlasClient({ credentials: { ...API_KEY, isMongodbgovCloud: true } }).baseUrl).toBe(GOV_ATLAS_BASE_URL);
    expect(new AtlasClient({ credentials: { ...API_KEY, isMongodbgovCloud: true, baseUrl: "http://127.0.0.1:9" } }).baseUrl).toBe("http://127.0.0.1:9");
  });

  test("an accessToken is sent as a Bearer token; a refused one is not retried", async () => {
    await boot();
    const minted = await fetch(`${emulator.baseUrl}/api/oauth/token`, {
      method: "POST",
      headers: { Authorization: `Basic ${Buffer.from(`${SERVICE_ACCOUNT.clientId}:${SERVICE_ACCOUNT.clientSecret}`).toString("base64")}`, "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: "grant_type=client_credentials",
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const client = new AtlasClient({ credentials: { baseUrl: emulator.baseUrl, accessToken: minted.access_token } });
    expect(client.auth.kind).toBe("access-token");
    await expect(client.listAvailableProjects(ctx(), ORG_ID)).resolves.toHaveLength(1);
    emulator.expireTokens();
    await expect(client.listAvailableProjects(ctx(), ORG_ID)).rejects.toMatchObject({ status: 401 });
    expect(emulator.countByOperation((r) => r.status === 401).listAvailableProjects).toBe(1);
  });
});
