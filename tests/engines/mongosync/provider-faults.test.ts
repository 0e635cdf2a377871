// The mongosync engine behind the real Migration provider runtime (create → read → cutover update → delete)
// against the MongosyncEmulator, with every fault the emulator can inject (500, connection reset before and
// after a command applies, error envelopes, an HTML page, a wrong state) at the lifecycle step where it matters.
//
// What is asserted is what the user sees: a retryable fault costs exactly the extra API calls listed in the
// table and the lifecycle still completes; a non-retryable one rejects with a clear, redacted message and
// leaves Pulumi state right (no id when nothing was started; the partial-initialization shape with the handle
// once mongosync runs), and a follow-up `pulumi up` resumes where that makes sense.
//
// Speed without timed assertions: polls are 20 ms, the emulator advances one tick per GET /progress, and
// Math.random is pinned to 0 so the client's full-jitter backoff waits 0 ms. Faults that would only end at a
// deadline (a mongosync gone for good) are left to the engine tests, which run on a virtual clock.
import * as runtime from "../../../provider/runtime";
import type { InjectedFault, MongosyncEmulator, MongosyncEndpoint } from "../../../testing/mongosync-emulator";
import { emulator, stopEmulators } from "./helpers";

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

const SRC_PASSWORD = "s3cretPw";
const TGT_PASSWORD = "t4rgetPw";
const SRC = `mongodb://app:${SRC_PASSWORD}@src1.example.com:27017/?replicaSet=rs0`;
const TGT = `mongodb+srv://migrator:${TGT_PASSWORD}@orders.abcde.mongodb.net/`;

const { logged, messages } = watchProviderOutput(() => [SRC_PASSWORD, TGT_PASSWORD]);
const table: CallTableRow[] = [];

function inputs(url: string, over: Record<string, unknown> = {}): Props {
  return {
    __provider: "serialized-provider-text",
    resourceName: "orders",
    providerVersion: "0.1.0",
    engine: "mongosync",
    source: { uri: SRC },
    target: { uri: TGT },
    mongosync: { urls: [url], version: "1.22.0" },
    timeouts: { pollSeconds: 0.02, createMinutes: 1, cutoverMinutes: 1 },
    cutover: false,
    ...over,
  };
}

/** One emulator with a fixed id (Math.random is pinned, so the default id would be the same every time). */
function boot(): Promise<MongosyncEmulator> {
  return emulator({ id: "ms-0" });
}

function callsSince(e: MongosyncEmulator, from: number): Calls {
  const out: Calls = {};
  for (const r of e.requests.slice(from)) out[r.endpoint] = (out[r.endpoint] ?? 0) + 1;
  return out;
}

function step<T>(e: MongosyncEmulator, row: Partial<Record<Step, Calls>>, name: Step, run: () => Promise<T>): Promise<{ ok: T } | { err: any }> {
  return recordStep({ requestCount: () => e.requests.length, callsSince: (from) => callsSince(e, from) }, messages, row, name, run);
}

const ok = <T>(r: { ok: T } | { err: any }): T => {
  if ("err" in r) throw r.err;
  return r.ok;
};
const rejected = (r: { ok: unknown } | { err: any }): any => {
  if (!("err" in r)) throw new Error("expected a rejection");
  return r.err;
};

/** How many requests to `endpoint` changed mongosync's state (an answer lost after the change counts too). */
function applied(e: MongosyncEmulator, endpoint: MongosyncEndpoint): number {
  let before = "IDLE";
  let n = 0;
  for (const r of e.requests) {
    if (r.endpoint === endpoint && r.stateAfter !== before) n += 1;
    before = r.stateAfter;
  }
  return n;
}

function expectPartial(err: any, phase: string, handleId = "ms-0"): void {
  expectPartialShape(err, phase);
  expect(err.properties.handle).toMatchObject({ engine: "mongosync", id: handleId, data: { instances: 1 } });
}

afterEach(async () => {
  await stopEmulators();
});
afterAll(() => {
  printCallTable("mongosync via provider (1 instance): API calls per lifecycle step", table, {}, 56);
});

// ---------------------------------------------------------------------------------------------------------

interface LifecycleResult {
  calls: Partial<Record<Step, Calls>>;
  faulted: Partial<Record<Step, number>>;
}

/** create → read → update(cutover: true) → delete; `deleteBeforeCutover` deletes instead of cutting over. */
async function lifecycle(e: MongosyncEmulator, faults: Partial<Record<Step, InjectedFault[]>> = {}, deleteBeforeCutover = false): Promise<LifecycleResult> {
  const calls: Partial<Record<Step, Calls>> = {};
  const faulted: Partial<Record<Step, number>> = {};
  const run = async <T>(name: Step, fn: () => Promise<T>): Promise<T> => {
    for (const f of faults[name] ?? []) e.inject(f);
    const from = e.requests.length;
    const result = await step(e, calls, name, fn);
    faulted[name] = e.requests.slice(from).filter((r) => r.fault !== undefined).length;
    return ok(result);
  };
  const { id, outs } = await run("create", () => runtime.create(inputs(e.url)));
  expect(outs.phase).toBe("READY_FOR_CUTOVER");
  expect(e.count("start")).toBeGreaterThan(0);
  const refreshed = await run("read", () => runtime.read(id, outs));
  expect(refreshed.props).toMatchObject({ phase: "READY_FOR_CUTOVER", reason: null });
  if (deleteBeforeCutover) {
    // Delete only talks to mongosync before COMPLETE (afterwards Pulumi just forgets): pause it.
    await run("delete", () => runtime.destroy(id, refreshed.props));
    expect(e.state).toBe("PAUSED");
    expect(logged.join("\n")).toMatch(/paused mongosync on 1 instance/);
    return { calls, faulted };
  }
  const { outs: done } = await run("update(cutover)", () => runtime.update(id, refreshed.props, inputs(e.url, { cutover: true })));
  expect(done).toMatchObject({ phase: "COMPLETE", verification: { mode: "engine", passed: true } });
  expect(e.state).toBe("COMMITTED");
  await run("delete", () => runtime.destroy(id, done));
  return { calls, faulted };
}

const baselines = new Map<boolean, Partial<Record<Step, Calls>>>();
async function baseline(deleteBeforeCutover: boolean): Promise<Partial<Record<Step, Calls>>> {
  let calls = baselines.get(deleteBeforeCutover);
  if (!calls) {
    calls = (await lifecycle(await boot(), {}, deleteBeforeCutover)).calls;
    baselines.set(deleteBeforeCutover, calls);
    await stopEmulators();
  }
  return calls;
}

const fault = (endpoint: MongosyncEndpoint, f: InjectedFault["fault"], extra: Partial<InjectedFault> = {}): InjectedFault => ({ endpoint, fault: f, ...extra });

describe("mongosync through the provider: retryable faults complete with exactly the extra calls", () => {
  it("happy path (the baselines every fault below is compared with)", async () => {
    baselines.clear();
    const cutover = await baseline(false);
    const paused = await baseline(true);
    table.push({ name: "happy path (cutover; delete after COMPLETE)", calls: cutover, note: "" });
    table.push({ name: "happy path (delete before cutover: pause)", calls: paused, note: "" });
    expect(cutover.read).toEqual({ progress: 1 });
    expect(cutover.create).toMatchObject({ start: 1 });
    expect(cutover["update(cutover)"]).toMatchObject({ commit: 1 });
    expect(cutover.delete).toEqual({}); // COMPLETE: forgotten, no call
    expect(paused.delete).toEqual({ progress: 1, pause: 1 });
  });

  const RETRYABLE: Array<{ name: string; step: Step; faults: InjectedFault[]; extra: Calls; deleteBeforeCutover?: boolean; why?: string }> = [
    { name: "500 on the preflight /progress", step: "create", faults: [fault("progress", { kind: "http500" })], extra: { progress: 1 } },
    { name: "500 on /start (not applied)", step: "create", faults: [fault("start", { kind: "http500" })], extra: { start: 1 } },
    { name: "reset before /start applies", step: "create", faults: [fault("start", { kind: "reset" })], extra: { start: 1 } },
    {
      name: "reset after /start applied (answer lost)",
      step: "create",
      faults: [fault("start", { kind: "reset", after: true })],
      // The retried /start is refused (RUNNING); the engine reads /progress to see it runs. That read also
      // advances the emulator one tick, so the catch-up needs one poll less: only the /start is extra.
      extra: { start: 1 },
    },
    { name: "500 ×2 on /progress while catching up", step: "create", faults: [fault("progress", { kind: "http500" }, { skip: 3, times: 2 })], extra: { progress: 2 } },
    { name: "reset on /progress while catching up", step: "create", faults: [fault("progress", { kind: "reset" }, { skip: 3 })], extra: { progress: 1 } },
    {
      name: "503 error envelope on /progress while catching up",
      step: "create",
      faults: [fault("progress", { kind: "envelope", status: 503, error: "ServiceUnavailable", errorDescription: "busy" }, { skip: 3 })],
      extra: { progress: 1 },
    },
    { name: "500 on /progress during refresh", step: "read", faults: [fault("progress", { kind: "http500" })], extra: { progress: 1 } },
    { name: "500 on /commit (not applied)", step: "update(cutover)", faults: [fault("commit", { kind: "http500" })], extra: { commit: 1 } },
    { name: "reset before /commit applies", step: "update(cutover)", faults: [fault("commit", { kind: "reset" })], extra: { commit: 1 } },
    {
      name: "reset after /commit applied (answer lost)",
      step: "update(cutover)",
      faults: [fault("commit", { kind: "reset", after: true })],
      // The retried /commit is refused (COMMITTING); the look that finds it committing replaces a poll.
      extra: { commit: 1 },
    },
    { name: "reset on /progress during the cutover", step: "update(cutover)", faults: [fault("progress", { kind: "reset" }, { skip: 1 })], extra: { progress: 1 } },
    { name: "500 on /progress during delete", step: "delete", deleteBeforeCutover: true, faults: [fault("progress", { kind: "http500" })], extra: { progress: 1 } },
    {
      name: "reset after /pause applied (answer lost)",
      step: "delete",
      deleteBeforeCutover: true,
      faults: [fault("pause", { kind: "reset", after: true })],
      // Retried /pause refused (PAUSED), then one /progress read to see it is paused.
      extra: { pause: 1, progress: 1 },
    },
  ];

  it.each(RETRYABLE)("$step: $name", async ({ name, step: at, faults, extra, deleteBeforeCutover }) => {
    const reference = await baseline(deleteBeforeCutover ?? false);
    const e = await boot();
    const { calls, faulted } = await lifecycle(e, { [at]: faults }, deleteBeforeCutover ?? false);
    table.push({ name, calls, note: `extra ${JSON.stringify(extra)}` });
    expect(faulted[at]).toBe(faults.reduce((n, f) => n + (f.times ?? 1), 0));
    for (const s of STEPS) expect([s, diffCalls(calls[s] ?? {}, reference[s] ?? {})]).toEqual([s, s === at ? extra : {}]);
    // Each command took effect exactly once, whatever was retried or refused.
    expect(applied(e, "start")).toBe(1);
    expect(applied(e, deleteBeforeCutover ? "pause" : "commit")).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe("mongosync through the provider: non-retryable faults reject clearly and keep state right", () => {
  it("/start refused (error envelope quoting the source URI): create rejects redacted, nothing kept; the next create starts once", async () => {
    const e = await boot();
    e.inject(fault("start", { kind: "envelope", status: 400, error: "InsufficientDestinationDiskSpace", errorDescription: `destination needs 2x the data of ${SRC}` }));
    const row: Partial<Record<Step, Calls>> = {};
    const err = rejected(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    expectNothingKept(err);
    expect(err.message).toMatch(/^orders: mongosync at http:\/\/127\.0\.0\.1:\d+ refused POST \/api\/v1\/start \(HTTP 400\): InsufficientDestinationDiskSpace: destination needs 2x the data of /);
    expect(err.message).toContain("mongosync accepts /start only when IDLE");
    expect(err.message).not.toContain(SRC_PASSWORD);
    expect(e.state).toBe("IDLE");
    // preflight 1 progress; start: 1 progress, the refused /start, 1 progress to see it is still IDLE.
    expect(row.create).toEqual({ progress: 3, start: 1 });
    const { outs } = await runtime.create(inputs(e.url));
    expect(outs.phase).toBe("READY_FOR_CUTOVER");
    expect(applied(e, "start")).toBe(1);
    table.push({ name: "/start refused (400 envelope)", calls: row, note: "rejects, nothing kept; rerun starts" });
  });

  it("an HTML page instead of the API (wrong URL) at preflight: create rejects naming the URL problem; nothing started", async () => {
    const e = await boot();
    e.inject(fault("progress", { kind: "html" }));
    const row: Partial<Record<Step, Calls>> = {};
    const err = rejected(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    expectNothingKept(err);
    expect(err.message).toMatch(/preflight found 1 problem\(s\); nothing was started:\nMONGOSYNC_API_ERROR: mongosync at http:\/\/127\.0\.0\.1:\d+ refused GET \/api\/v1\/progress \(HTTP 200\): UnexpectedResponse: expected a JSON \{success: …\} answer, got "<html><body>Welcome to nginx!<\/body><\/html>"; is this URL a mongosync API\?/);
    expect(row.create).toEqual({ progress: 1 });
    expect(e.count("start")).toBe(0);
    table.push({ name: "HTML page on /progress at preflight", calls: row, note: "rejects, nothing kept" });
  });

  it("wrong state: mongosync already COMMITTED: create rejects at preflight; nothing started", async () => {
    const e = await boot();
    e.setState("COMMITTED");
    const row: Partial<Record<Step, Calls>> = {};
    const err = rejected(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    expectNothingKept(err);
    expect(err.message).toMatch(/MONGOSYNC_NOT_IDLE: mongosync at http:\/\/127\.0\.0\.1:\d+ is COMMITTED: it already committed a migration — restart mongosync/);
    expect(row.create).toEqual({ progress: 1 });
    table.push({ name: "wrong state: COMMITTED before create", calls: row, note: "rejects, nothing kept" });
  });

  it("an HTML page during catch-up: create keeps the running sync (partial, handle); the next update resumes without a second /start", async () => {
    const e = await boot();
    e.inject(fault("progress", { kind: "html" }, { skip: 3 })); // preflight, start ×2, then the first advance read
    const row: Partial<Record<Step, Calls>> = {};
    const err = rejected(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    expectPartial(err, "PENDING");
    expect(err.message).toMatch(/^orders: the sync stopped: mongosync at http:\/\/127\.0\.0\.1:\d+ refused GET \/api\/v1\/progress \(HTTP 200\): UnexpectedResponse: .*is this URL a mongosync API\?.*run `pulumi up` again to resume$/s);
    expect(err.properties.reason).toMatch(/^the sync stopped: /);
    const { outs } = ok(await step(e, row, "update(cutover)", () => runtime.update(err.id, err.properties, inputs(e.url))));
    expect(outs).toMatchObject({ phase: "READY_FOR_CUTOVER", reason: null });
    expect(row["update(cutover)"]!.start).toBeUndefined();
    expect(e.count("start")).toBe(1);
    table.push({ name: "HTML page on /progress during catch-up (update = rerun)", calls: row, note: "partial PENDING, rerun resumes" });
  });

  it("/start accepted but the reads right after it fail: create keeps the running sync (partial, handle), not an orphan; the next update resumes", async () => {
    const e = await boot();
    // preflight and the read before /start pass; the confirmation read and the first advance read get HTML.
    e.inject(fault("progress", { kind: "html" }, { skip: 2, times: 2 }));
    const row: Partial<Record<Step, Calls>> = {};
    const err = rejected(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    expect(e.state).toBe("RUNNING");
    // The ids come from /progress, which could not be read: the handle falls back to the migration id.
    expectPartial(err, "PENDING", err.properties.migrationId);
    expect(err.message).toMatch(/^orders: the sync stopped: mongosync at .* refused GET \/api\/v1\/progress \(HTTP 200\): UnexpectedResponse: /);
    expect(logged.join("\n")).toMatch(/mongosync accepted \/start but its progress could not be read right after/);
    const { outs } = ok(await step(e, row, "update(cutover)", () => runtime.update(err.id, err.properties, inputs(e.url))));
    expect(outs.phase).toBe("READY_FOR_CUTOVER");
    expect(e.count("start")).toBe(1);
    table.push({ name: "HTML on the reads right after /start (update = rerun)", calls: row, note: "partial PENDING, rerun resumes" });
  });

  it("M10: a 400 error envelope on /progress during refresh is retried (reading is safe; mongosync may refuse it for minutes after a restart)", async () => {
    const e = await boot();
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ok(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    e.inject(fault("progress", { kind: "envelope", status: 400, error: "InvalidRequest", errorDescription: `bad client for ${TGT}` }));
    const { props } = ok(await step(e, row, "read", () => runtime.read(id, outs)));
    expect(props.phase).toBe("READY_FOR_CUTOVER");
    expect(props.handle).toEqual(outs.handle);
    expect(props.reason ?? null).toBeNull();
    expect(row.read).toEqual({ progress: 2 }); // the refusal, then the retry that answers
    table.push({ name: "400 envelope on /progress during refresh", calls: row, note: "retried once, read succeeds" });
  });

  it("/commit refused (envelope) while RUNNING: update rejects (partial, still READY_FOR_CUTOVER: nothing committed, M9); the follow-up update commits once", async () => {
    const e = await boot();
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ok(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    e.inject(fault("commit", { kind: "envelope", status: 400, error: "CommitFailed", errorDescription: "source writes detected during commit" }));
    const err = rejected(await step(e, row, "update(cutover)", () => runtime.update(id, outs, inputs(e.url, { cutover: true }))));
    expectPartial(err, "READY_FOR_CUTOVER");
    expect(err.message).toMatch(
      /^orders: cutover not started: mongosync at http:\/\/127\.0\.0\.1:\d+ refused POST \/api\/v1\/commit \(HTTP 400\): CommitFailed: source writes detected during commit\. mongosync commits only when RUNNING/,
    );
    expect(e.state).toBe("RUNNING");
    const { outs: done } = await runtime.update(id, err.properties, inputs(e.url, { cutover: true }));
    expect(done).toMatchObject({ phase: "COMPLETE", reason: null });
    expect(e.requests.filter((r) => r.endpoint === "commit").map((r) => r.status)).toEqual([400, 200]);
    expect(applied(e, "commit")).toBe(1);
    table.push({ name: "/commit refused (400 envelope)", calls: row, note: "partial READY_FOR_CUTOVER (nothing committed), rerun COMPLETE" });
  });

  it("wrong state: an undocumented failure state after READY: read shows FAILED; update rejects (partial); delete changes nothing", async () => {
    const e = await boot();
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ok(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    e.machine.failWith("FAILED", "fatal: the source oplog rolled over");
    const { props } = ok(await step(e, row, "read", () => runtime.read(id, outs)));
    expect(props.phase).toBe("FAILED");
    expect(props.reason).toMatch(/FAILED/);
    const err = rejected(await step(e, row, "update(cutover)", () => runtime.update(id, props, inputs(e.url, { cutover: true }))));
    expectPartial(err, "FAILED");
    expect(err.message).toMatch(/^orders: the migration FAILED: /);
    expect(row["update(cutover)"]).toEqual({ progress: 1 }); // no /commit on a failed sync
    ok(await step(e, row, "delete", () => runtime.destroy(id, err.properties)));
    expect(row.delete).toEqual({ progress: 1 });
    expect(logged.join("\n")).toMatch(/mongosync reports state "FAILED"; nothing was changed/);
    table.push({ name: "wrong state: undocumented FAILED after READY", calls: row, note: "read FAILED, update partial, delete warns" });
  });

  it("an HTML page on delete: delete warns that nothing was changed and does not fail", async () => {
    const e = await boot();
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ok(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    e.inject(fault("progress", { kind: "html" }));
    ok(await step(e, row, "delete", () => runtime.destroy(id, outs)));
    expect(row.delete).toEqual({ progress: 1 });
    expect(e.state).toBe("RUNNING");
    expect(logged.join("\n")).toMatch(/warning: could not read mongosync progress \(mongosync at .* refused GET \/api\/v1\/progress .*\); nothing was changed/);
    table.push({ name: "HTML page on /progress during delete", calls: row, note: "delete warns, nothing changed" });
  });

  it("wrong state: COMMITTING at delete (a cutover half done): delete does not pause and says why", async () => {
    const e = await boot();
    const row: Partial<Record<Step, Calls>> = {};
    const { id, outs } = ok(await step(e, row, "create", () => runtime.create(inputs(e.url))));
    e.setState("COMMITTING");
    e.machine.options.advanceOnProgress = false;
    ok(await step(e, row, "delete", () => runtime.destroy(id, outs)));
    expect(row.delete).toEqual({ progress: 1 });
    expect(logged.join("\n")).toMatch(/mongosync is COMMITTING: a commit cannot be cancelled/);
    table.push({ name: "wrong state: COMMITTING at delete", calls: row, note: "delete warns, no pause" });
  });
});
