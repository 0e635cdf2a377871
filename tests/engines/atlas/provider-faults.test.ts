// atlas-push behind the real Migration provider runtime (create → read → cutover update → delete) against the
// AtlasApiEmulator, with every fault the emulator can inject, at the lifecycle step where it matters.
//
// What is asserted is what the user sees: a retryable fault costs exactly the extra API calls listed in the
// table and the lifecycle still completes; a non-retryable one rejects with a clear, redacted message and
// leaves Pulumi state right (no id when nothing was started; the partial-initialization shape with the handle
// once a migration exists), and a follow-up `pulumi up` resumes where that makes sense.
//
// Speed without timed assertions: polls are 20 ms, and Math.random is pinned to 0 so the client's full-jitter
// backoff waits 0 ms (only a Retry-After header makes it wait: one case waits the 1 s it asks for).
// API calls are counted without the Digest 401 challenges, which depend on nonce reuse, not on the fault.
import * as runtime from "../../../provider/runtime";
import type { AtlasApiEmulator, AtlasEmulatorOptions, InjectedFault } from "../../../testing/atlas-emulator";
import { API_KEY, ATLAS_PROJECT_ID, CM_PROJECT_ID, ORG_ID, SERVICE_ACCOUNT, startEmulator } from "./fixtures";

import {
  diffCalls,
  expectNothingKept,
  expectPartialShape,
  printCallTable,
  recordStep,
  STEPS,
  watchProviderOutput,
  type CallTableRow,
  type Calls,
  type Step,
} from "../../support/provider-faults";

type Props = Record<string, any>;
const SOURCE_PASSWORD = "cmS3cret!pw";

let emulator: AtlasApiEmulator | undefined;
/** Log lines and rejection messages of the current test, checked for secrets after each test. */
const { logged, messages } = watchProviderOutput(() => [SOURCE_PASSWORD, API_KEY.privateKey, SERVICE_ACCOUNT.clientSecret]);
/** The printed table: one row per case. */
const table: CallTableRow[] = [];

function inputs(over: Record<string, unknown> = {}): Props {
  return {
    __provider: "serialized-provider-text",
    resourceName: "orders",
    providerVersion: "0.1.0",
    engine: "atlas-push",
    source: { cloudManager: { groupId: CM_PROJECT_ID, clusterName: "rs0", username: "migrator", password: SOURCE_PASSWORD, ssl: true } },
    target: { atlas: { projectId: ATLAS_PROJECT_ID, clusterName: "Cluster0", tier: "M40" } },
    atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com", dropDestinationData: false },
    verificationMode: "none",
    timeouts: { pollSeconds: 0.02, createMinutes: 1, cutoverMinutes: 1 },
    cutover: false,
    ...over,
  };
}

type Creds = "api key" | "service account";

async function boot(opts: AtlasEmulatorOptions = {}, creds: Creds = "api key"): Promise<AtlasApiEmulator> {
  const e = await startEmulator(opts);
  emulator = e;
  const given: Record<string, string> = { baseUrl: e.baseUrl, ...(creds === "api key" ? API_KEY : SERVICE_ACCOUNT) };
  const keys: Record<string, string> = {};
  for (const [k, v] of Object.entries(given)) keys[`mongodbatlas:${k}`] = v;
  runtime.configure({ get: (key) => keys[key] });
  return e;
}

/** Counts API calls (not Digest challenges) per operation from request index `from` on. */
function callsSince(e: AtlasApiEmulator, from: number): Calls {
  return e.countByOperation((r) => e.requests.indexOf(r) >= from && r.status !== 401);
}

/** Runs one step, recording its calls; returns the step's result or its rejection. */
function step<T>(e: AtlasApiEmulator, row: Partial<Record<Step, Calls>>, name: Step, run: () => Promise<T>): Promise<{ ok: T } | { err: any }> {
  return recordStep({ requestCount: () => e.requests.length, callsSince: (from) => callsSince(e, from) }, messages, row, name, run);
}

/** The partial-initialization shape, with the Atlas handle. */
function expectPartial(err: any, phase: string, liveMigrationId?: string): void {
  expectPartialShape(err, phase);
  expect(err.properties.handle).toMatchObject({ engine: "atlas-push", data: { projectId: ATLAS_PROJECT_ID } });
  if (liveMigrationId) expect(err.properties.handle.id).toBe(liveMigrationId);
}

afterEach(async () => {
  runtime.configure({ get: () => undefined });
  await emulator?.stop();
  emulator = undefined;
});
afterAll(() => {
  const short: Record<string, string> = {
    listAvailableProjects: "projects", validate: "validate", getValidation: "getValidation", createMigration: "createMigration",
    getMigration: "get", cutover: "cutover", createLinkToken: "linkToken", deleteLinkTokens: "unlink", oauthToken: "oauth",
  };
  printCallTable("atlas-push via provider: API calls per lifecycle step (Digest challenges excluded)", table, short, 58);
});

// ---------------------------------------------------------------------------------------------------------
// The whole lifecycle, optionally with faults injected just before a step.

interface LifecycleResult {
  calls: Partial<Record<Step, Calls>>;
  done: Props;
  faulted: Partial<Record<Step, number>>;
}

async function lifecycle(e: AtlasApiEmulator, faults: Partial<Record<Step, InjectedFault[]>> = {}): Promise<LifecycleResult> {
  const calls: Partial<Record<Step, Calls>> = {};
  const faulted: Partial<Record<Step, number>> = {};
  const run = async <T>(name: Step, fn: () => Promise<T>): Promise<T> => {
    for (const f of faults[name] ?? []) e.injectFault(f);
    const from = e.requests.length;
    const result = await step(e, calls, name, fn);
    faulted[name] = e.requests.slice(from).filter((r) => r.fault === true).length;
    if ("err" in result) throw result.err;
    return result.ok;
  };
  const { id, outs } = await run("create", () => runtime.create(inputs()));
  expect(outs.phase).toBe("READY_FOR_CUTOVER");
  const refreshed = await run("read", () => runtime.read(id, outs));
  expect(refreshed.props).toMatchObject({ phase: "READY_FOR_CUTOVER", reason: null });
  const { outs: done } = await run("update(cutover)", () => runtime.update(id, outs, inputs({ cutover: true })));
  expect(done).toMatchObject({ phase: "COMPLETE", verification: { mode: "engine", passed: true } });
  // Delete runs the engine's cancel only before COMPLETE; after it, Pulumi just forgets. To exercise faults on
  // delete, the delete step here removes the migration as it stood before the cutover (as `pulumi destroy`
  // would have done one step earlier).
  await run("delete", () => runtime.destroy(id, refreshed.props));
  return { calls, done, faulted };
}

let happy: Partial<Record<Step, Calls>> | undefined;
async function happyBaseline(): Promise<Partial<Record<Step, Calls>>> {
  if (!happy) {
    const e = await boot();
    happy = (await lifecycle(e)).calls;
    await e.stop();
    emulator = undefined;
  }
  return happy;
}

describe("atlas-push through the provider: retryable faults complete with exactly the extra calls", () => {
  it("happy path (the baseline every fault below is compared with)", async () => {
    happy = undefined;
    const calls = await happyBaseline();
    table.push({ name: "happy path", calls, note: "" });
    expect(calls.read).toEqual({ getMigration: 1 });
    expect(calls.create).toMatchObject({ listAvailableProjects: 1, validate: 1, createMigration: 1 });
    expect(calls["update(cutover)"]).toMatchObject({ cutover: 1 });
    expect(calls.delete).toEqual({ getMigration: 1 });
  });

  const RETRYABLE: Array<{ name: string; step: Step; faults: InjectedFault[]; extra: Calls; creds?: Creds; after?: (e: AtlasApiEmulator) => void }> = [
    { name: "429 with Retry-After: 1 on validate", step: "create", faults: [{ operation: "validate", status: 429, retryAfter: 1 }], extra: { validate: 1 } },
    { name: "429 without Retry-After on createMigration (refused before work)", step: "create", faults: [{ operation: "createMigration", status: 429 }], extra: { createMigration: 1 } },
    { name: "503 on createMigration (refused before work)", step: "create", faults: [{ operation: "createMigration", status: 503 }], extra: { createMigration: 1 } },
    { name: "500 ×2 on getValidation", step: "create", faults: [{ operation: "getValidation", status: 500, times: 2 }], extra: { getValidation: 2 } },
    { name: "502 on listAvailableProjects (preflight)", step: "create", faults: [{ operation: "listAvailableProjects", status: 502 }], extra: { listAvailableProjects: 1 } },
    { name: "500 ×2 on getMigration while catching up", step: "create", faults: [{ operation: "getMigration", status: 500, times: 2 }], extra: { getMigration: 2 } },
    { name: "500 on the service-account token endpoint", step: "create", creds: "service account", faults: [{ operation: "oauthToken", status: 500 }], extra: { oauthToken: 1 } },
    { name: "429 on getMigration during refresh", step: "read", faults: [{ operation: "getMigration", status: 429 }], extra: { getMigration: 1 } },
    { name: "429 with Retry-After as an HTTP-date on the cutover PUT", step: "update(cutover)", faults: [{ operation: "cutover", status: 429, retryAfter: new Date(0).toUTCString() }], extra: { cutover: 1 } },
    {
      name: "500 after Atlas applied the cutover PUT (answer lost)",
      step: "update(cutover)",
      faults: [{ operation: "cutover", status: 500, afterProcessing: true }],
      // The retried PUT meets a migration already cutting over (400 not ready); the engine looks again
      // instead of failing. That extra read replaces one poll, so only the PUT is extra.
      extra: { cutover: 1 },
      after: (e) => expect(e.listMigrations()[0].cutoverRequests).toBe(2),
    },
    { name: "502 on getMigration during the cutover", step: "update(cutover)", faults: [{ operation: "getMigration", status: 502 }], extra: { getMigration: 1 } },
    { name: "500 on getMigration during delete", step: "delete", faults: [{ operation: "getMigration", status: 500 }], extra: { getMigration: 1 } },
  ];

  it.each(RETRYABLE)("$step: $name", async ({ name, step: at, faults, extra, creds, after }) => {
    const baseline = creds === "service account" ? undefined : await happyBaseline();
    let e = await boot({}, creds);
    let reference = baseline;
    if (!reference) {
      // Service accounts add the token call: their own baseline, on a fresh emulator.
      reference = (await lifecycle(e)).calls;
      await e.stop();
      e = await boot({}, creds);
    }
    const { calls, faulted } = await lifecycle(e, { [at]: faults });
    table.push({ name, calls, note: `extra ${JSON.stringify(extra)}` });
    const injected = faults.reduce((n, f) => n + (f.times ?? 1), 0);
    expect(faulted[at]).toBe(injected); // every injected fault was met at this step, none elsewhere
    for (const s of STEPS) expect([s, diffCalls(calls[s]!, reference[s]!)]).toEqual([s, s === at ? extra : {}]);
    expect(e.listMigrations()).toHaveLength(1); // no retry ever created a second migration
    // Every retry is announced with what Atlas answered, the token endpoint's included.
    for (const f of faults) expect(logged.join("\n")).toMatch(new RegExp(`Atlas answered HTTP ${f.status} to ${f.operation}; retrying in \\d+ s`));
    after?.(e);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("atlas-push through the provider: non-retryable faults reject clearly and keep state right", () => {
  it("validation FAILED: create rejects with Atlas's reason and nothing is kept or started", async () => {
    const e = await boot({ scenario: { validationResult: "FAILED", validationErrorMessage: "Insufficient disk space on Cluster0." } });
    const row: Partial<Record<Step, Calls>> = {};
    const r = await step(e, row, "create", () => runtime.create(inputs()));
    table.push({ name: "validation FAILED", calls: row, note: "rejects, nothing kept" });
    const err = (r as { err: any }).err;
    expectNothingKept(err);
    expect(err.message).toBe(
      "orders: Atlas validation of the live migration failed: Insufficient disk space on Cluster0.. Check the migration host, the IP access list, " +
        "the link token, the source user's roles and TLS files, and the target's disk size",
    );
    // validate answers PENDING; the first GET still PENDING, the second FAILED (scenario validationPolls: 1).
    expect(row.create).toEqual({ listAvailableProjects: 1, validate: 1, getValidation: 2 });
    expect(e.listMigrations()).toHaveLength(0);
  });

  it("400 field violations on createMigration: create rejects naming the field; the next create starts exactly one migration", async () => {
    const e = await boot();
    e.injectFault({ operation: "createMigration", status: 400, fields: [{ field: "source.groupId", description: "Project not found." }] });
    const row: Partial<Record<Step, Calls>> = {};
    const r = await step(e, row, "create", () => runtime.create(inputs()));
    const err = (r as { err: any }).err;
    expectNothingKept(err);
    expect(err.message).toBe("orders: Atlas rejected source.groupId: Project not found. (VALIDATION_ERROR)");
    expect(row.create).toMatchObject({ createMigration: 1 });
    expect(e.listMigrations()).toHaveLength(0);
    const again = await runtime.create(inputs());
    expect(again.outs.phase).toBe("READY_FOR_CUTOVER");
    expect(e.listMigrations()).toHaveLength(1);
    table.push({ name: "400 field violations on createMigration", calls: row, note: "rejects, nothing kept; rerun creates 1" });
  });

  it("410 VERSION_GONE on validate: create rejects telling the user to upgrade; nothing is kept", async () => {
    const e = await boot({ sunsetVersions: ["2024-05-30"] });
    const row: Partial<Record<Step, Calls>> = {};
    const err = ((await step(e, row, "create", () => runtime.create(inputs()))) as { err: any }).err;
    table.push({ name: "410 VERSION_GONE (validate, sunset 2024-05-30)", calls: row, note: "rejects, nothing kept" });
    expectNothingKept(err);
    expect(err.message).toMatch(/^orders: Atlas no longer serves API version 2024-05-30 used for validating the live migration \(VERSION_GONE\)\. Upgrade pulumi-atlas-migration/);
    expect(row.create).toEqual({ listAvailableProjects: 1, validate: 1 });
    expect(e.listMigrations()).toHaveLength(0);
  });

  it("410 VERSION_GONE on getMigration during refresh: read keeps the resource with a reason; the cutover still completes", async () => {
    const e = await boot();
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ((await step(e, row, "create", () => runtime.create(inputs()))) as { ok: { id: string; outs: Props } }).ok;
    e.injectFault({ operation: "getMigration", status: 410, errorCode: "VERSION_GONE" });
    const read = ((await step(e, row, "read", () => runtime.read(id, outs))) as { ok: { props: Props } }).ok;
    expect(read.props.phase).toBe("READY_FOR_CUTOVER");
    expect(read.props.handle).toEqual(outs.handle);
    expect(read.props.reason).toMatch(/^status unavailable: Atlas no longer serves API version 2023-01-01 used for reading the live migration \(VERSION_GONE\)/);
    expect(logged.join("\n")).toMatch(/refresh could not read the migration status/);
    expect(row.read).toEqual({ getMigration: 1 }); // a 410 is not retried
    const done = ((await step(e, row, "update(cutover)", () => runtime.update(id, read.props, inputs({ cutover: true })))) as { ok: { outs: Props } }).ok;
    expect(done.outs).toMatchObject({ phase: "COMPLETE", reason: null });
    table.push({ name: "410 VERSION_GONE on getMigration (refresh)", calls: row, note: "read keeps state + reason" });
  });

  it("500 after Atlas created the migration: not retried, no id; the next create refuses to make a second one", async () => {
    const e = await boot();
    e.injectFault({ operation: "createMigration", status: 500, afterProcessing: true });
    const row: Partial<Record<Step, Calls>> = {};
    const err = ((await step(e, row, "create", () => runtime.create(inputs()))) as { err: any }).err;
    expectNothingKept(err);
    expect(err.message).toMatch(/may or may not have been created and the API cannot list migrations: check Atlas → Organization → Live Migration/);
    expect(row.create).toMatchObject({ createMigration: 1 });
    const [existing] = e.listMigrations();
    expect(e.listMigrations()).toHaveLength(1);
    expect(err.message).toMatch(/set atlasPush.adoptLiveMigrationId to its id/);
    // A plain rerun cannot find it (Atlas has no list API and the id was lost), but does not duplicate it either.
    const again = (await runtime.create(inputs()).catch((x: unknown) => x)) as any;
    messages.push(again.message);
    expectNothingKept(again);
    expect(again.message).toContain(`Cluster0 already has an active live migration (${existing.id})`);
    expect(e.listMigrations()).toHaveLength(1);
    // With the id from the Atlas UI the next run takes it over: no validation, no second create.
    const before = e.requests.length;
    const adopted = await runtime.create(inputs({ atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com", adoptLiveMigrationId: existing.id } }));
    expect(adopted.outs.handle.id).toBe(existing.id);
    expect(adopted.outs.phase).toBe("READY_FOR_CUTOVER");
    const ops = e.requests.slice(before).map((r) => r.operation);
    expect(ops).not.toContain("createMigration");
    expect(ops).not.toContain("validate");
    expect(e.listMigrations()).toHaveLength(1);
    table.push({ name: "500 on createMigration after the work", calls: row, note: "rejects, no id; rerun refused; adoptLiveMigrationId takes it over" });
  });

  it("migration FAILED while copying: create keeps it (partial, handle); update reports FAILED again; delete finds nothing running", async () => {
    const e = await boot({ scenario: { failDuring: "COPYING" } });
    const row: Partial<Record<Step, Calls>> = {};
    const err = ((await step(e, row, "create", () => runtime.create(inputs()))) as { err: any }).err;
    const [m] = e.listMigrations();
    expectPartial(err, "FAILED", m.id);
    expect(err.message).toMatch(/^orders: the migration FAILED: Atlas reports the live migration FAILED\..*delete and re-create this resource/);
    expect(err.properties.reason).toMatch(/Atlas reports the live migration FAILED/);
    const again = ((await step(e, row, "update(cutover)", () => runtime.update(err.id, err.properties, inputs()))) as { err: any }).err;
    expectPartial(again, "FAILED", m.id);
    expect(row["update(cutover)"]).toEqual({ getMigration: 1 }); // no new validate/create: it does not restart
    await step(e, row, "delete", () => runtime.destroy(err.id, again.properties));
    expect(row.delete).toEqual({ getMigration: 1 });
    expect(logged.join("\n")).toMatch(new RegExp(`live migration ${m.id} is FAILED; nothing is running to stop`));
    expect(e.listMigrations()).toHaveLength(1);
    table.push({ name: "migration FAILED during copy (update = plain rerun)", calls: row, note: "partial FAILED, rerun FAILED" });
  });

  it("EXPIRED after being ready: read shows FAILED/expired; the cutover update rejects (partial); delete finds nothing running", async () => {
    const e = await boot({ scenario: { expireAfterReadyPolls: 1 } });
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ((await step(e, row, "create", () => runtime.create(inputs()))) as { ok: { id: string; outs: Props } }).ok;
    expect(outs.phase).toBe("READY_FOR_CUTOVER");
    const read = ((await step(e, row, "read", () => runtime.read(id, outs))) as { ok: { props: Props } }).ok;
    expect(read.props).toMatchObject({ phase: "FAILED", reason: expect.stringMatching(/^expired: .*120-hour window/) });
    const err = ((await step(e, row, "update(cutover)", () => runtime.update(id, read.props, inputs({ cutover: true })))) as { err: any }).err;
    expectPartial(err, "FAILED", outs.handle.id);
    expect(err.message).toMatch(/^orders: the migration FAILED: expired: /);
    expect(row["update(cutover)"]).toEqual({ getMigration: 1 }); // no cutover PUT on an expired migration
    await step(e, row, "delete", () => runtime.destroy(id, err.properties));
    expect(logged.join("\n")).toMatch(/is EXPIRED; nothing is running to stop/);
    table.push({ name: "EXPIRED after READY", calls: row, note: "read FAILED/expired, update partial" });
  });

  it("the cutover ends FAILED: update rejects (partial, FAILED, with Atlas's reason), so diff allows un-flipping", async () => {
    const e = await boot({ scenario: { outcome: "FAILED" } });
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ((await step(e, row, "create", () => runtime.create(inputs()))) as { ok: { id: string; outs: Props } }).ok;
    const err = ((await step(e, row, "update(cutover)", () => runtime.update(id, outs, inputs({ cutover: true })))) as { err: any }).err;
    expectPartial(err, "FAILED", outs.handle.id);
    expect(err.message).toMatch(/^orders: the migration FAILED during cutover: /);
    expect(() => runtime.diff(id, err.properties, inputs({ cutover: false }))).not.toThrow();
    const again = (await runtime.update(id, err.properties, inputs({ cutover: true })).catch((x: unknown) => x)) as any;
    messages.push(again.message);
    expectPartial(again, "FAILED", outs.handle.id);
    expect(again.message).toMatch(/^orders: the migration FAILED: /);
    expect(e.listMigrations()[0]).toMatchObject({ stage: "FAILED", cutoverRequests: 1 });
    table.push({ name: "cutover outcome FAILED", calls: row, note: "partial FAILED (one status read after the error)" });
  });

  it("403 on the cutover PUT: update rejects (partial, CUTTING_OVER); the follow-up update resumes and completes", async () => {
    const e = await boot();
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ((await step(e, row, "create", () => runtime.create(inputs()))) as { ok: { id: string; outs: Props } }).ok;
    e.injectFault({ operation: "cutover", status: 403, detail: "Only an Organization Owner may cut over." });
    const err = ((await step(e, row, "update(cutover)", () => runtime.update(id, outs, inputs({ cutover: true })))) as { err: any }).err;
    expectPartial(err, "CUTTING_OVER", outs.handle.id);
    expect(err.message).toMatch(/^orders: cutover stopped: Atlas denied starting the live-migration cutover: Only an Organization Owner may cut over\. \(FORBIDDEN\)/);
    expect(row["update(cutover)"]).toMatchObject({ cutover: 1 });
    const { outs: done } = await runtime.update(id, err.properties, inputs({ cutover: true }));
    expect(done).toMatchObject({ phase: "COMPLETE", reason: null });
    expect(e.listMigrations()[0]).toMatchObject({ stage: "COMPLETE", cutoverRequests: 1 });
    table.push({ name: "403 on the cutover PUT", calls: row, note: "partial CUTTING_OVER, rerun COMPLETE" });
  });

  it("409 on link-token delete (another migration active): delete warns and keeps the token", async () => {
    const e = await boot({ scenario: { failDuring: "COPYING" } });
    const given = inputs({ atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com", createLinkToken: true } });
    const row: Partial<Record<Step, Calls>> = {};
    const err = ((await step(e, row, "create", () => runtime.create(given))) as { err: any }).err;
    expectPartial(err, "FAILED");
    expect(err.properties.handle.data).toMatchObject({ linkTokenRequested: true, linkTokenCreated: false }); // already linked
    e.injectFault({ operation: "deleteLinkTokens", status: 409 });
    await step(e, row, "delete", () => runtime.destroy(err.id, err.properties));
    expect(row.delete).toEqual({ getMigration: 1, deleteLinkTokens: 1 });
    expect(logged.join("\n")).toMatch(
      /warning: kept the live-migration link token of Atlas org \w+: another migration in the organization is still active \(CANNOT_DELETE_ORG_ACTIVE_LIVE_MIGRATION_ATLAS_ORG_LINK\)/,
    );
    expect(e.isLinked(ORG_ID)).toBe(true);
    table.push({ name: "409 on link-token delete", calls: row, note: "delete warns, token kept" });
  });

  it("404 on delete (Atlas no longer knows the migration): delete just forgets it", async () => {
    const e = await boot();
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ((await step(e, row, "create", () => runtime.create(inputs()))) as { ok: { id: string; outs: Props } }).ok;
    e.injectFault({ operation: "getMigration", status: 404 });
    const r = await step(e, row, "delete", () => runtime.destroy(id, outs));
    expect(r).toEqual({ ok: undefined });
    expect(row.delete).toEqual({ getMigration: 1 });
    expect(logged.join("\n")).toMatch(new RegExp(`Atlas no longer knows live migration ${outs.handle.id}; removed it from state`));
    table.push({ name: "404 on getMigration during delete", calls: row, note: "delete forgets" });
  });
});
