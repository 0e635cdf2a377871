// atlas-push through the engine interface against every fault the emulator can inject.
import { engineFor } from "../../../provider/engines/registry";
import { AtlasLinkPendingError } from "../../../provider/engines/atlas";
import { AtlasApiError } from "../../../provider/engines/atlas/errors";
import { atlasClientFor } from "../../../provider/engines/atlas/client";
import { DeadlineExceededError, EngineFailedError } from "../../../provider/errors";
import type { EngineCredentials, MigrationHandle, MigrationSpec } from "../../../provider/engines/engine";
import { AtlasApiEmulator, type AtlasEmulatorOptions } from "../../../testing/atlas-emulator";
import { makeContext, type TestContext } from "../../support/context";
import { API_KEY, ORG_ID, SERVICE_ACCOUNT, cloudManagerProject, pushSpec, startEmulator } from "./fixtures";

const engine = engineFor("atlas-push");
let emulator: AtlasApiEmulator;
let credentials: EngineCredentials;
let specCounter = 0;

async function boot(opts: AtlasEmulatorOptions = {}): Promise<void> {
  emulator = await startEmulator(opts);
  credentials = { atlas: { baseUrl: emulator.baseUrl, ...API_KEY } };
}

function ctx(deadlineMs?: number): TestContext {
  return makeContext({ credentials, deadlineMs });
}

function spec(overrides: Partial<MigrationSpec> = {}): MigrationSpec {
  specCounter += 1;
  return pushSpec({ migrationId: `faults-${specCounter}`, ...overrides });
}

async function startedAndReady(s: MigrationSpec, c: TestContext): Promise<MigrationHandle> {
  const handle = await engine.start(s, c);
  expect((await engine.advance(s, handle, c)).phase).toBe("READY_FOR_CUTOVER");
  return handle;
}

afterEach(async () => { await emulator.stop(); });

describe("validation and creation faults", () => {
  test("validation FAILED ⇒ EngineFailedError carrying Atlas's errorMessage; no job created", async () => {
    await boot({ scenario: { validationResult: "FAILED", validationErrorMessage: "Insufficient disk space on Cluster0." } });
    const err = await engine.start(spec(), ctx()).catch((e) => e);
    expect(err).toBeInstanceOf(EngineFailedError);
    expect(err.message).toMatch(/^Atlas validation of the live migration failed: Insufficient disk space on Cluster0\./);
    expect(emulator.listMigrations()).toHaveLength(0);
  });

  test("a source Atlas cannot see fails validation with Atlas's reason", async () => {
    await boot({ orgs: [{ orgId: ORG_ID, availableProjects: [] }] });
    const err = await engine.start(spec(), ctx()).catch((e) => e);
    expect(err).toBeInstanceOf(EngineFailedError);
    expect(err.message).toMatch(/is not linked to this Atlas organization/);
  });

  test("400 field violations surface as `Atlas rejected <field>`", async () => {
    await boot();
    emulator.injectFault({ operation: "createMigration", status: 400, fields: [{ field: "source.groupId", description: "Project not found." }] });
    const err = await engine.start(spec(), ctx()).catch((e) => e);
    expect(err).toBeInstanceOf(AtlasApiError);
    expect(err.message).toBe("Atlas rejected source.groupId: Project not found. (VALIDATION_ERROR)");
  });

  test("500 on create after Atlas did the work: not retried, the message says to check before rerunning", async () => {
    await boot();
    emulator.injectFault({ operation: "createMigration", status: 500, afterProcessing: true });
    const err = await engine.start(spec(), ctx()).catch((e) => e);
    expect(err.message).toMatch(/may or may not have been created .*check Atlas → Organization → Live Migration/);
    expect(emulator.countByOperation()).toMatchObject({ createMigration: 1 });
    expect(emulator.listMigrations()).toHaveLength(1);
  });

  test("410 VERSION_GONE on validate tells the user to upgrade the package", async () => {
    await boot({ sunsetVersions: ["2024-05-30"] });
    await expect(engine.start(spec(), ctx())).rejects.toThrow(/no longer serves API version 2024-05-30 .*Upgrade pulumi-atlas-migration/);
  });

  test("validation that outlives the deadline ⇒ DeadlineExceededError (start is simply retried next time)", async () => {
    await boot({ scenario: { validationPolls: 1000 } });
    const err = await engine.start(spec(), ctx(30_000)).catch((e) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(emulator.listMigrations()).toHaveLength(0);
  });
});

describe("rate limits and server errors while polling", () => {
  test("429 with and without Retry-After and 500s during advance and cutover are absorbed", async () => {
    await boot();
    const s = spec();
    const c = ctx();
    const handle = await engine.start(s, c);
    emulator.injectFault({ operation: "getMigration", status: 429, retryAfter: 5, times: 2 });
    emulator.injectFault({ operation: "getMigration", status: 429, times: 1 });
    emulator.injectFault({ operation: "getMigration", status: 500, times: 1 });
    emulator.injectFault({ operation: "getMigration", status: 503, retryAfter: "Thu, 01 Jan 2026 00:00:30 GMT", times: 1 });
    expect((await engine.advance(s, handle, c)).phase).toBe("READY_FOR_CUTOVER");
    emulator.injectFault({ operation: "cutover", status: 429, retryAfter: 1 });
    emulator.injectFault({ operation: "getMigration", status: 502 });
    await expect(engine.cutover(s, handle, c)).resolves.toMatchObject({ phase: "COMPLETE" });
    expect(emulator.countByOperation((r) => r.fault === true)).toEqual({ getMigration: 6, cutover: 1 });
    expect(c.lines.filter((l) => /retrying in/.test(l))).toHaveLength(7);
  });

  test("advance never throws on the deadline: a rate-limit storm returns the last status with a warning", async () => {
    await boot();
    const s = spec();
    const handle = await engine.start(s, ctx());
    emulator.injectFault({ operation: "getMigration", status: 429, retryAfter: 10, skip: 1, times: 1000 });
    const c = ctx(60_000);
    const out = await engine.advance(s, handle, c);
    expect(out.phase).toBe("PENDING");
    expect(out.warnings.join()).toMatch(/kept answering HTTP 429 .*gave up after \d+ attempt/);
    expect(c.now()).toBeLessThanOrEqual(c.deadline);
  });

  test("with no status read at all before the deadline, advance reports the Atlas error", async () => {
    await boot();
    const s = spec();
    const handle = await engine.start(s, ctx());
    emulator.injectFault({ operation: "getMigration", status: 429, retryAfter: 10, times: 1000 });
    const err = await engine.advance(s, handle, ctx(30_000)).catch((e) => e);
    expect(err).toBeInstanceOf(AtlasApiError);
    expect(err.gaveUp).toMatchObject({ reason: "deadline" });
  });
});

describe("migration outcomes", () => {
  test("FAILED during the copy ⇒ advance returns FAILED with a reason; cutover refuses", async () => {
    await boot({ scenario: { failDuring: "COPYING" } });
    const s = spec();
    const c = ctx();
    const handle = await engine.start(s, c);
    const st = await engine.advance(s, handle, c);
    expect(st).toMatchObject({ phase: "FAILED", readyForCutover: false, details: { atlasStatus: "FAILED" } });
    expect(st.reason).toMatch(/FAILED.*delete and re-create/);
    await expect(engine.cutover(s, handle, c)).rejects.toBeInstanceOf(EngineFailedError);
    // Starting again in the same process never hands back the failed migration.
    emulator.scenario.failDuring = undefined;
    const fresh = await engine.start(s, c);
    expect(fresh.id).not.toBe(handle.id);
    expect(emulator.listMigrations().map((m) => m.stage)).toEqual(["FAILED", "NEW"]);
  });

  test("EXPIRED ⇒ FAILED phase with reason 'expired: …' and the raw status in details", async () => {
    await boot({ scenario: { expireAfterReadyPolls: 2 } });
    const s = spec();
    const c = ctx();
    const handle = await startedAndReady(s, c);
    emulator.advance(handle.id, 2);
    const st = await engine.status(s, handle, c);
    expect(st).toMatchObject({ phase: "FAILED", details: { atlasStatus: "EXPIRED" } });
    expect(st.reason).toMatch(/^expired: .*120-hour/);
  });

  test("FAILED during cutover ⇒ EngineFailedError", async () => {
    await boot({ scenario: { outcome: "FAILED" } });
    const s = spec();
    const c = ctx();
    const handle = await startedAndReady(s, c);
    await expect(engine.cutover(s, handle, c)).rejects.toThrow(/cutover cannot finish: Atlas reports the live migration FAILED/);
  });

  test("cutover waits for readyForCutover, and an interrupted cutover resumes without a second PUT", async () => {
    await boot({ scenario: { cutoverPolls: 50 } });
    const s = spec();
    const c = ctx();
    const handle = await engine.start(s, c);
    // Not ready yet: cutover first waits, then runs out of its deadline after the PUT.
    const err = await engine.cutover(s, handle, ctx(20_000)).catch((e) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(err.message).toMatch(/Atlas live-migration cutover did not finish before its deadline/);
    expect(err.status).toMatchObject({ phase: "CUTTING_OVER" });
    expect(emulator.migration(handle.id)).toMatchObject({ stage: "CUTTING_OVER", cutoverRequests: 1 });
    // The next `pulumi up` is a new process: what it knows is Atlas's answer and the phase stored in state.
    const next = { ...c, stored: { phase: "CUTTING_OVER" as const } };
    expect((await engine.status(s, handle, next)).phase).toBe("CUTTING_OVER");
    await expect(engine.cutover(s, handle, next)).resolves.toMatchObject({ phase: "COMPLETE" });
    expect(emulator.migration(handle.id)!.cutoverRequests).toBe(1);
  });

  test("a cutover that never becomes ready says so when the deadline passes", async () => {
    await boot({ scenario: { copyPolls: 10_000 } });
    const s = spec();
    const handle = await engine.start(s, ctx());
    const err = await engine.cutover(s, handle, ctx(10_000)).catch((e) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(err.message).toMatch(/waiting for Atlas to be ready for cutover/);
    expect(err.status).toMatchObject({ phase: "COPYING" });
  });

  test("a refused PUT while Atlas still says ready is surfaced, not swallowed", async () => {
    await boot();
    const s = spec();
    const c = ctx();
    const handle = await startedAndReady(s, c);
    emulator.injectFault({ operation: "cutover", status: 400, errorCode: "CANNOT_CUTOVER", detail: "Destination cluster is being modified." });
    await expect(engine.cutover(s, handle, c)).rejects.toThrow("Atlas rejected starting the live-migration cutover: Destination cluster is being modified. (CANNOT_CUTOVER, HTTP 400)");
  });
});

describe("link tokens", () => {
  const linkSpec = () => spec({ atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com", dropDestinationData: false, createLinkToken: true, linkTokenAccessListIps: ["203.0.113.10"] } });

  test("not linked yet: the token is created, published as a secret, and start stops at once (nobody can paste it before the run ends)", async () => {
    await boot();
    emulator.addOrg({ orgId: ORG_ID, availableProjects: [cloudManagerProject()], linked: false, linkAfterPolls: 3 });
    const c = ctx();
    const err = await engine.start(linkSpec(), c).catch((e) => e);
    expect(err).toBeInstanceOf(AtlasLinkPendingError);
    const [token] = emulator.linkTokens(ORG_ID);
    expect(c.secrets).toEqual({ linkToken: token });
    expect(err.message).not.toContain(token);
    expect(c.lines.join("\n")).not.toContain(token);
    expect(c.lines.join("\n")).toMatch(/paste it \(output linkToken\) into Cloud Manager/);
    // No polling for a link after the token was made: the deadline is not burnt waiting.
    const afterToken = emulator.requests.slice(emulator.requests.findIndex((r) => r.operation === "createLinkToken") + 1);
    expect(afterToken.filter((r) => r.operation === "listAvailableProjects")).toHaveLength(0);
    // Once pasted, the next run proceeds with a clean handle and makes no new token.
    emulator.pasteLinkToken(ORG_ID);
    const again = ctx();
    const handle = await engine.start(linkSpec(), again);
    expect(handle.data.linkTokenCreated).toBe(false);
    expect(JSON.stringify(handle)).not.toContain(token);
    expect(emulator.linkTokens(ORG_ID)).toHaveLength(1);
  });

  test("never linked before the deadline ⇒ AtlasLinkPendingError, the token already published", async () => {
    await boot();
    emulator.addOrg({ orgId: ORG_ID, availableProjects: [cloudManagerProject()], linked: false });
    const c = ctx(30_000);
    const err = await engine.start(linkSpec(), c).catch((e) => e);
    expect(err).toBeInstanceOf(AtlasLinkPendingError);
    const [token] = emulator.linkTokens(ORG_ID);
    expect(c.secrets).toEqual({ linkToken: token });
    expect(err.message).not.toContain(token);
    expect(err.message).toMatch(/Connect to Atlas/);
    // The user pastes it; the next `pulumi up` finds the link and makes no new token.
    emulator.pasteLinkToken(ORG_ID);
    const again = ctx();
    await engine.start(linkSpec(), again);
    expect(again.secrets).toEqual({});
    expect(emulator.linkTokens(ORG_ID)).toHaveLength(1);
  });

  test("an availableProjects refusal before linking counts as 'not linked yet'", async () => {
    await boot();
    emulator.addOrg({ orgId: ORG_ID, availableProjects: [cloudManagerProject()], linked: false });
    emulator.injectFault({ operation: "listAvailableProjects", status: 400, errorCode: "ORG_NOT_LINKED", detail: "No link." });
    const c = ctx();
    const err = await engine.start(linkSpec(), c).catch((e) => e);
    expect(err).toBeInstanceOf(AtlasLinkPendingError);
    expect(Object.keys(c.secrets)).toEqual(["linkToken"]);
    emulator.pasteLinkToken(ORG_ID);
    await engine.start(linkSpec(), ctx());
    expect(emulator.listMigrations()).toHaveLength(1);
  });

  test("cancel while active: warns there is no cancel API and keeps the token", async () => {
    await boot();
    const s = linkSpec();
    const c = ctx();
    const handle = await engine.start(s, c);
    const report = await engine.cancel(s, handle, c);
    expect(report.warnings[0]).toMatch(/no API to cancel a push live migration.*Atlas UI/);
    expect(report.warnings[1]).toMatch(/kept the live-migration link token/);
    expect(emulator.countByOperation()).not.toHaveProperty("deleteLinkTokens");
    expect(emulator.migration(handle.id)!.stage).not.toBe("COMPLETE");
  });

  test("cancel after the migration ended deletes the token; a 409 becomes a warning", async () => {
    await boot();
    const s = linkSpec();
    const c = ctx();
    const handle = await startedAndReady(s, c);
    await engine.cutover(s, handle, c);
    emulator.injectFault({ operation: "deleteLinkTokens", status: 409 });
    const blocked = await engine.cancel(s, handle, c);
    expect(blocked.warnings.join()).toMatch(/kept the live-migration link token .*CANNOT_DELETE_ORG_ACTIVE_LIVE_MIGRATION_ATLAS_ORG_LINK/);
    const deleted = await engine.cancel(s, handle, c);
    expect(deleted.warnings.join()).toMatch(/deleted the live-migration link token/);
    expect(emulator.isLinked(ORG_ID)).toBe(false);
  });

  test("the emulator's own 409 guard: deleting the link while a migration runs is refused", async () => {
    await boot();
    const s = spec();
    const c = ctx();
    await engine.start(s, c);
    const err = await atlasClientFor(credentials.atlas).deleteLinkTokens(c, ORG_ID).catch((e) => e);
    expect(err.status).toBe(409);
  });

  test("cancel of a migration Atlas no longer knows just forgets it", async () => {
    await boot();
    const s = spec();
    const fake: MigrationHandle = { engine: "atlas-push", id: "0123456789abcdef01234567", startedAt: "", data: { projectId: s.target.atlas!.projectId } };
    const report = await engine.cancel(s, fake, ctx());
    expect(report.warnings).toEqual([expect.stringMatching(/no longer knows live migration/)]);
  });
});

describe("secrets never leak", () => {
  test("passwords, keys and tokens stay out of logs, handles and errors", async () => {
    await boot({ scenario: { validationResult: "FAILED", validationErrorMessage: "bad password source-Pa55word! for migrator" } });
    const c = ctx();
    const err = await engine.start(spec(), c).catch((e) => e);
    const everything = [err.message, ...c.lines].join("\n");
    expect(everything).not.toContain("source-Pa55word!");
    expect(everything).not.toContain(API_KEY.privateKey);
    expect(err.message).toContain("bad password **** for migrator");
  });

  test("service-account credentials work through the engine and never appear in logs", async () => {
    await boot();
    credentials = { atlas: { baseUrl: emulator.baseUrl, ...SERVICE_ACCOUNT } };
    const c = ctx();
    const s = spec();
    const handle = await startedAndReady(s, c);
    await engine.cutover(s, handle, c);
    expect(c.lines.join("\n")).not.toContain(SERVICE_ACCOUNT.clientSecret);
    expect(emulator.requests.filter((r) => r.operation !== "oauthToken").every((r) => r.auth === "bearer")).toBe(true);
  });
});
