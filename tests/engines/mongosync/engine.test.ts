// The mongosync engine through the MigrationEngine interface (engineFor("mongosync")) against emulators:
// the whole lifecycle, every injected fault, several instances, and the API calls each step costs.
import { DeadlineExceededError, EngineFailedError } from "../../../provider/errors";
import type { MigrationEngine, MigrationHandle, MigrationSpec } from "../../../provider/engines/engine";
import { MongosyncApiError } from "../../../provider/engines/mongosync/client";
import { createMongosyncEngine, isMongosyncEngine, MongosyncCommitNotAcceptedError } from "../../../provider/engines/mongosync";
import { engineFor } from "../../../provider/engines/registry";
import type { MongosyncEmulator } from "../../../testing/mongosync-emulator";
import { MemoryCluster } from "../../../testing/memory/memory-cluster";
import { makeContext, type TestContext } from "../../support/context";
import { deadUrl, emulator, emulatorGroup, mongosyncSpec, stopEmulators } from "./helpers";

afterEach(stopEmulators);

const engine: MigrationEngine = engineFor("mongosync");
const callTable: string[] = [];
const verificationSamples: string[] = [];

afterAll(() => {
  if (callTable.length > 0) console.log(`mongosync API calls per lifecycle step\n${callTable.join("\n")}`);
  if (verificationSamples.length > 0) console.log(`verification report where mongosync has no verifier\n${verificationSamples.join("\n")}`);
});

/** Runs `step` and returns its result with the number of requests every emulator received meanwhile. */
async function counted<T>(emulators: MongosyncEmulator[], step: () => Promise<T>): Promise<{ result: T; calls: number; byEndpoint: Record<string, number> }> {
  const before = emulators.map((e) => e.requests.length);
  const result = await step();
  const byEndpoint: Record<string, number> = {};
  emulators.forEach((e, i) => {
    for (const r of e.requests.slice(before[i])) byEndpoint[r.endpoint] = (byEndpoint[r.endpoint] ?? 0) + 1;
  });
  return { result, calls: Object.values(byEndpoint).reduce((a, b) => a + b, 0), byEndpoint };
}

async function started(e: MongosyncEmulator[], spec: MigrationSpec, ctx: TestContext = makeContext()): Promise<MigrationHandle> {
  return engine.start(spec, ctx);
}

/** The version families the engine suite runs over (issue 9). */
export const VERSIONS = ["1.7.0", "1.8.0", "1.9.0", "1.11.0", "1.12.0", "1.15.0", "1.19.0", "1.20.0", "1.22.0"];

function atLeastV(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split(".").map(Number);
  return a > major || (a === major && b >= minor);
}

/** What /start must receive for the default spec (writeBlocking auto, not reversible, verifier on), per version. */
function expectedStartBody(version: string, instances = 1): Record<string, unknown> {
  const body: Record<string, unknown> = { source: "cluster0", destination: "cluster1" };
  if (atLeastV(version, 1, 9)) body.verification = { enabled: true };
  if (!atLeastV(version, 1, 11)) body.enableUserWriteBlocking = true; // ≤1.10 dual blocking
  else if (!atLeastV(version, 1, 12)) body.enableUserWriteBlocking = true; // 1.11: `true` is dual
  else if (!atLeastV(version, 1, 20)) body.enableUserWriteBlocking = "sourceAndDestination";
  void instances;
  return body;
}

/** Versions where mongosync itself verifies (1 instance: 1.9+; a sharded group: 1.10+). */
function embeddedVerifier(version: string, instances: number): boolean {
  return atLeastV(version, 1, 9) && !(instances > 1 && !atLeastV(version, 1, 10));
}

let clusterSerial = 0;
/** Source and target MemoryClusters holding the same data, as if mongosync had copied it. */
async function copiedClusters(docs = 20): Promise<{ sourceUri: string; targetUri: string; target: MemoryCluster }> {
  const n = ++clusterSerial;
  const source = MemoryCluster.create(`msync-src-${n}`);
  const target = MemoryCluster.create(`msync-dst-${n}`);
  for (const c of [source, target]) {
    await c.db("shop").collection<{ _id: number; qty: number }>("orders").insertMany(Array.from({ length: docs }, (_, i) => ({ _id: i, qty: i % 7 })));
  }
  return { sourceUri: `memory://msync-src-${n}`, targetUri: `memory://msync-dst-${n}`, target };
}

describe("lifecycle (create → status → cutover → delete) against one mongosync, every version family", () => {
  it.each(VERSIONS)("mongosync %s", async (version) => {
    const e = await emulator({ version });
    const withVerifier = embeddedVerifier(version, 1);
    // Without an embedded verifier the engine verifies itself: it needs both connection strings.
    const clusters = withVerifier ? undefined : await copiedClusters();
    const spec = mongosyncSpec([e.url], { version }, clusters ? { source: { uri: clusters.sourceUri }, target: { uri: clusters.targetUri } } : {});
    const ctx = makeContext();
    const steps: Array<[string, number, Record<string, number>]> = [];

    const pre = await counted([e], () => engine.preflight(spec, ctx));
    steps.push(["preflight", pre.calls, pre.byEndpoint]);
    expect(pre.result.errors).toEqual([]);
    expect(pre.result.facts).toMatchObject({ mongosyncVersion: version, mongosyncInstances: 1, verifier: withVerifier ? "embedded" : "ours" });

    const start = await counted([e], () => engine.start(spec, ctx));
    steps.push(["start", start.calls, start.byEndpoint]);
    const handle = start.result;
    expect(handle.engine).toBe("mongosync");
    expect(e.machine.startBody).toEqual(expectedStartBody(version));

    const status = await counted([e], () => engine.status(spec, handle, ctx));
    steps.push(["status (read)", status.calls, status.byEndpoint]);
    expect(status.result.phase).toBe("COPYING");
    expect(status.result.details).toMatchObject({ mongosyncState: "RUNNING", verifierPhase: withVerifier ? (atLeastV(version, 1, 22) ? "not started" : "initial hashing") : null });
    expect(status.result.totalBytes).toBe(10_000_000);

    const advanced = await counted([e], () => engine.advance(spec, handle, ctx));
    steps.push(["advance (create wait)", advanced.calls, advanced.byEndpoint]);
    expect(advanced.result).toMatchObject({ phase: "READY_FOR_CUTOVER", readyForCutover: true, lagSeconds: 2, copiedBytes: 10_000_000 });
    expect(advanced.result.details).toMatchObject({ verifierPhase: withVerifier ? "stream hashing" : null, canCommit: true });

    const cut = await counted([e], () => engine.cutover(spec, handle, ctx));
    steps.push(["cutover", cut.calls, cut.byEndpoint]);
    expect(cut.result.phase).toBe("COMPLETE");
    if (withVerifier) {
      expect(cut.result.verification).toMatchObject({ mode: "engine", passed: true });
      expect(cut.result.verification.summary).toContain(atLeastV(version, 1, 15) ? "non-default collation" : "views, collection metadata and indexes");
    } else {
      expect(cut.result.verification).toMatchObject({ mode: "full", passed: true });
      expect(cut.result.verification.namespaces).toEqual([expect.objectContaining({ namespace: "shop.orders", sourceCount: 20, targetCount: 20, match: true })]);
      expect(cut.result.verification.summary).toContain("no embedded verifier");
    }
    expect(cut.result.warnings.join("\n")).toContain(atLeastV(version, 1, 20) ? "__mdb_internal_mongosync" : "mongosync_reserved_for_internal_use");
    expect(e.state).toBe("COMMITTED");
    expect(e.count("commit")).toBe(1);

    const again = await counted([e], () => engine.cutover(spec, handle, ctx));
    steps.push(["cutover again (no-op)", again.calls, again.byEndpoint]);
    expect(again.result.phase).toBe("COMPLETE");
    expect(again.byEndpoint.commit).toBeUndefined();

    const del = await counted([e], () => engine.cancel(spec, handle, ctx));
    steps.push(["delete after COMPLETE", del.calls, del.byEndpoint]);
    expect(del.result.warnings).toEqual([]);
    expect(del.byEndpoint.pause).toBeUndefined();

    const total = steps.reduce((n, [, c]) => n + c, 0);
    callTable.push(
      `  ${version}, 1 instance: ` + steps.map(([name, calls, by]) => `${name}=${calls} ${JSON.stringify(by)}`).join("; ") + `; total=${total}`,
    );
    if (!withVerifier) verificationSamples.push(`  ${version}: ${JSON.stringify(cut.result.verification)}`);
    // Log lines carry no cluster credentials.
    expect(ctx.lines.join("\n")).not.toMatch(/s3cr3t|t4rget/);
  });

  it("the handle holds no URL and no secret", async () => {
    const e = await emulator();
    const handle = await started([e], mongosyncSpec([e.url]));
    const text = JSON.stringify(handle);
    expect(text).not.toContain("127.0.0.1");
    expect(text).not.toMatch(/s3cr3t|t4rget|mongodb:\/\//);
    expect(handle.data).toMatchObject({ instances: 1, version: "1.22.0", writeBlocking: "managedByMongosync", verification: true, sourceCluster: "cluster0" });
  });

  it("advance returns a not-yet-ready status at its deadline instead of throwing", async () => {
    const e = await emulator({ advanceOnProgress: false });
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    const ctx = makeContext({ deadlineMs: 10_000 });
    const status = await engine.advance(spec, handle, ctx);
    expect(status.phase).toBe("COPYING");
    expect(ctx.now()).toBeLessThanOrEqual(ctx.deadline);
    expect(e.count("progress")).toBeGreaterThan(5); // it polled on the virtual clock
  });

  it("status is a single read with no side effects, also when PAUSED", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.setState("PAUSED", { runTicks: 10 });
    const before = e.requests.length;
    const status = await engine.status(spec, handle, makeContext());
    expect(e.requests.slice(before).map((r) => r.endpoint)).toEqual(["progress"]);
    expect(status.phase).toBe("SYNCING");
    expect(status.readyForCutover).toBe(false);
    expect(status.warnings.join()).toContain("PAUSED");
    expect(e.state).toBe("PAUSED");
  });

  it("advance resumes a paused mongosync and carries on", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.setState("PAUSED", { runTicks: 1 });
    const ctx = makeContext();
    const status = await engine.advance(spec, handle, ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(e.count("resume")).toBe(1);
    expect(ctx.lines.join("\n")).toContain("resuming");
  });

  it("a disabled verifier is not waited for; with verificationMode none the report says nothing was verified (passed only because none was chosen)", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url], { enableVerification: false }, { verification: "none" });
    const handle = await started([e], spec);
    const report = await engine.cutover(spec, handle, makeContext());
    expect(e.machine.startBody?.verification).toEqual({ enabled: false });
    expect(report.verification).toMatchObject({ mode: "none", passed: true });
    expect(report.verification.summary).toContain("not verified: mongosync's embedded verifier is disabled");
  });

  it("cutover waits for the verifier's stream hashing, not only canCommit (mongosync before 1.17)", async () => {
    // Before 1.17 canCommit could be true while the verifier was still in its initial hashing.
    const e = await emulator({ version: "1.16.0", verifierTicks: 6 });
    const spec = mongosyncSpec([e.url], { version: "1.16.0" });
    const handle = await started([e], spec);
    await engine.cutover(spec, handle, makeContext());
    const commit = e.requests.findIndex((r) => r.endpoint === "commit");
    const reads = e.requests.slice(0, commit).filter((r) => r.progress).map((r) => r.progress as { canCommit: boolean; verification: { source: { phase: string } } });
    expect(reads.some((p) => p.canCommit && p.verification.source.phase === "initial hashing")).toBe(true); // committable, but not yet
    expect(reads[reads.length - 1].verification.source.phase).toBe("stream hashing");
  });
});

describe("preflight", () => {
  it("names the unreachable instance and says what to do", async () => {
    const good = await emulator();
    const bad = await deadUrl();
    const report = await engine.preflight(mongosyncSpec([good.url, bad]), makeContext());
    expect(report.ok).toBe(false);
    expect(report.errors).toHaveLength(1);
    expect(report.errors[0].code).toBe("MONGOSYNC_UNREACHABLE");
    expect(report.errors[0].message).toContain(bad);
    expect(report.errors[0].action).toContain("--cluster0");
  });

  it("a RUNNING mongosync is a warning (start adopts it); a COMMITTED one is an error", async () => {
    const running = await emulator();
    running.setState("RUNNING");
    const r1 = await engine.preflight(mongosyncSpec([running.url]), makeContext());
    expect(r1.ok).toBe(true);
    expect(r1.warnings.map((w) => w.code)).toContain("MONGOSYNC_ALREADY_RUNNING");
    const committed = await emulator();
    committed.setState("COMMITTED");
    const r2 = await engine.preflight(mongosyncSpec([committed.url]), makeContext());
    expect(r2.ok).toBe(false);
    expect(r2.errors.map((f) => f.code)).toEqual(["MONGOSYNC_NOT_IDLE"]);
  });

  it("M15: the version comes from mongosync.version only; the undocumented /info and progress.version are not used", async () => {
    const withInfo = await emulator({ version: "1.19.1", infoEndpoint: true, versionInProgress: true });
    const r1 = await engine.preflight(mongosyncSpec([withInfo.url], { version: undefined }), makeContext());
    expect(withInfo.count("info")).toBe(0);
    expect(r1.ok).toBe(false);
    expect(r1.facts).toMatchObject({ mongosyncVersion: "unknown" });
    expect(r1.errors.map((f) => f.code)).toEqual(["MONGOSYNC_VERSION_UNKNOWN"]);
    const given = await emulator({ version: "1.19.1" });
    const r2 = await engine.preflight(mongosyncSpec([given.url], { version: "1.19.1" }), makeContext());
    expect(r2.facts).toMatchObject({ mongosyncVersion: "1.19.1", mongosyncVersionSource: "mongosync.version", writeBlocking: "sourceAndDestination" });
  });

  it("catches the same mongosync listed twice: by address, and by mongosyncID behind different addresses", async () => {
    const e = await emulator();
    const byAddress = await engine.preflight(mongosyncSpec([e.url, `${e.url}/api/v1`]), makeContext());
    expect(byAddress.errors.map((f) => f.code)).toEqual(["MONGOSYNC_DUPLICATE_INSTANCE"]);
    const a = await emulator({ id: "same" });
    const b = await emulator({ id: "same" });
    a.setState("RUNNING");
    b.setState("RUNNING");
    const byId = await engine.preflight(mongosyncSpec([a.url, b.url]), makeContext());
    expect(byId.errors.map((f) => f.code)).toEqual(["MONGOSYNC_DUPLICATE_INSTANCE"]);
    const c = await emulator({ id: "other" });
    c.setState("RUNNING");
    expect((await engine.preflight(mongosyncSpec([a.url, c.url]), makeContext())).ok).toBe(true);
  });

  it("mongosync's own warnings reach the status, redacted", async () => {
    const e = await emulator({ version: "1.19.0", warnings: ["oplog too small on mongodb://root:oplogPw1@src:27017"] });
    const spec = mongosyncSpec([e.url], { version: "1.19.0" });
    const handle = await started([e], spec);
    const status = await engine.status(spec, handle, makeContext());
    expect(status.warnings).toEqual(["mongosync: oplog too small on mongodb://root:****@src:27017"]);
  });

  it("an unknown (failure) state is an error; INITIALIZING only a warning", async () => {
    const failed = await emulator();
    failed.machine.failWith("FATAL", "verifier mismatch");
    const r1 = await engine.preflight(mongosyncSpec([failed.url]), makeContext());
    expect(r1.errors.map((f) => f.code)).toEqual(["MONGOSYNC_FAILED"]);
    const init = await emulator({ initializingTicks: 5, advanceOnProgress: false });
    const r2 = await engine.preflight(mongosyncSpec([init.url]), makeContext());
    expect(r2.ok).toBe(true);
    expect(r2.warnings.map((w) => w.code)).toEqual(["MONGOSYNC_INITIALIZING"]);
  });
});

describe("start is idempotent", () => {
  it("adopts a RUNNING mongosync without sending /start", async () => {
    const e = await emulator();
    e.setState("RUNNING", { runTicks: 2 });
    const ctx = makeContext();
    const handle = await engine.start(mongosyncSpec([e.url]), ctx);
    expect(e.count("start")).toBe(0);
    expect(handle.data.adopted).toBe(true);
    expect(ctx.lines.join("\n")).toContain("adopting");
  });

  it("waits for INITIALIZING to end, then starts", async () => {
    const e = await emulator({ initializingTicks: 3 });
    await engine.start(mongosyncSpec([e.url]), makeContext());
    expect(e.count("start")).toBe(1);
    expect(e.state).toBe("RUNNING");
  });

  it("refuses to start when the plan is unsafe, before any /start", async () => {
    const e = await emulator();
    const err = await engine.start(mongosyncSpec([e.url], { version: undefined }), makeContext()).catch((x: unknown) => x);
    expect((err as Error).message).toContain("mongosync --version");
    expect(e.count("start")).toBe(0);
  });
});

describe("every injected fault", () => {
  it("/start answered with 500 (not applied): retried, started once", async () => {
    const e = await emulator();
    e.inject({ endpoint: "start", fault: { kind: "http500" } });
    await engine.start(mongosyncSpec([e.url]), makeContext());
    expect(e.requests.filter((r) => r.endpoint === "start").map((r) => r.status)).toEqual([500, 200]);
    expect(e.state).toBe("RUNNING");
  });

  it("/start applied but the answer lost (reset): the retry is refused, the engine sees RUNNING and carries on", async () => {
    const e = await emulator();
    e.inject({ endpoint: "start", fault: { kind: "reset", after: true } });
    const ctx = makeContext();
    const handle = await engine.start(mongosyncSpec([e.url]), ctx);
    expect(e.requests.filter((r) => r.endpoint === "start").map((r) => r.status)).toEqual(["reset", 400]);
    expect(handle.engine).toBe("mongosync");
    expect(ctx.lines.join("\n")).toContain("refused a repeated /start but is running");
  });

  it("/start refused for good: the error carries mongosync's reason and the action", async () => {
    const e = await emulator();
    e.inject({ endpoint: "start", fault: { kind: "envelope", error: "InsufficientDestinationDiskSpace", errorDescription: "destination needs 2x the data size" } });
    const err = (await engine.start(mongosyncSpec([e.url]), makeContext()).catch((x: unknown) => x)) as MongosyncApiError;
    expect(err).toBeInstanceOf(MongosyncApiError);
    expect(err.message).toContain("InsufficientDestinationDiskSpace: destination needs 2x the data size");
    expect(e.state).toBe("IDLE");
  });

  it("/progress 500s and resets during advance: retried, still reaches READY_FOR_CUTOVER", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.inject({ endpoint: "progress", times: 2, fault: { kind: "http500" } });
    e.inject({ endpoint: "progress", fault: { kind: "reset" } });
    const status = await engine.advance(spec, handle, makeContext());
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(e.requests.filter((r) => r.fault).length).toBe(3);
  });

  it("/progress answering HTML (wrong URL): status fails with an actionable error", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.inject({ endpoint: "progress", fault: { kind: "html" } });
    await expect(engine.status(spec, handle, makeContext())).rejects.toThrow(/is this URL a mongosync API/);
  });

  it("mongosync gone during advance after a first read: returns the last status with the reason, no throw", async () => {
    const e = await emulator({ advanceOnProgress: false });
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.inject({ endpoint: "progress", skip: 1, times: 10_000, fault: { kind: "http500" } });
    const ctx = makeContext({ deadlineMs: 20_000 });
    const status = await engine.advance(spec, handle, ctx);
    expect(status.phase).toBe("COPYING");
    expect(status.warnings.join()).toContain("could not reach mongosync");
    expect(ctx.now()).toBeLessThanOrEqual(ctx.deadline);
  });

  it("mongosync unreachable from the first read of advance: throws the actionable error", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.inject({ endpoint: "progress", times: 10_000, fault: { kind: "http500" } });
    const err = await engine.advance(spec, handle, makeContext({ deadlineMs: 20_000 })).catch((x: unknown) => x);
    expect((err as Error).message).toContain("could not reach mongosync");
    expect((err as Error).message).toContain("HTTP 500");
  });

  it("/commit applied but the answer lost: cutover completes with one effective commit", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.inject({ endpoint: "commit", fault: { kind: "reset", after: true } });
    const report = await engine.cutover(spec, handle, makeContext());
    expect(report.phase).toBe("COMPLETE");
    expect(e.requests.filter((r) => r.endpoint === "commit").map((r) => r.status)).toEqual(["reset", 400]);
  });

  it("/commit refused while still RUNNING: cutover throws; running it again finishes (resumable)", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.inject({ endpoint: "commit", fault: { kind: "envelope", error: "CommitFailed", errorDescription: "source writes detected during commit" } });
    const err = (await engine.cutover(spec, handle, makeContext()).catch((x: unknown) => x)) as MongosyncCommitNotAcceptedError;
    expect(err).toBeInstanceOf(MongosyncCommitNotAcceptedError);
    expect(err.message).toContain("CommitFailed: source writes detected during commit");
    // M9: it says nothing was committed, and carries the status to store (still syncing, not CUTTING_OVER).
    expect(err.nothingCommitted).toBe(true);
    expect(err.status.phase).toBe("READY_FOR_CUTOVER");
    expect(e.state).toBe("RUNNING");
    const report = await engine.cutover(spec, handle, makeContext());
    expect(report.phase).toBe("COMPLETE");
  });

  it("cutover past its deadline before canCommit: DeadlineExceededError with the status; a later run commits", async () => {
    const e = await emulator({ advanceOnProgress: false });
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    const err = (await engine.cutover(spec, handle, makeContext({ deadlineMs: 15_000 })).catch((x: unknown) => x)) as DeadlineExceededError;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(err.message).toContain("canCommit");
    expect(err.status?.phase).toBe("COPYING");
    expect(e.count("commit")).toBe(0);
    e.advance(10);
    e.machine.options.advanceOnProgress = true;
    expect((await engine.cutover(spec, handle, makeContext())).phase).toBe("COMPLETE");
  });

  it("cutover interrupted while COMMITTING: the next run waits for COMMITTED without a second commit", async () => {
    const e = await emulator({ commitTicks: 50 });
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    const err = await engine.cutover(spec, handle, makeContext({ deadlineMs: 20_000 })).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(e.state).toBe("COMMITTING");
    expect((await engine.status(spec, handle, makeContext())).phase).toBe("CUTTING_OVER");
    const report = await engine.cutover(spec, handle, makeContext());
    expect(report.phase).toBe("COMPLETE");
    expect(e.count("commit")).toBe(1);
  });

  it("an undocumented (failure) state: status FAILED with a reason, advance stops, cutover throws", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.machine.failWith("ERROR", "fatal: verifier found mismatches");
    const status = await engine.status(spec, handle, makeContext());
    expect(status.phase).toBe("FAILED");
    expect(status.reason).toContain("verifier found mismatches");
    expect((await engine.advance(spec, handle, makeContext())).phase).toBe("FAILED");
    await expect(engine.cutover(spec, handle, makeContext())).rejects.toBeInstanceOf(EngineFailedError);
    expect(e.count("commit")).toBe(0);
  });
});

describe("delete (cancel)", () => {
  it("before commit: pauses, warns, and never commits or touches data", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    const report = await engine.cancel(spec, handle, makeContext());
    expect(e.state).toBe("PAUSED");
    expect(report.warnings.join()).toContain("paused mongosync on 1 instance(s)");
    expect(report.warnings.join()).toContain("POST /api/v1/resume");
    expect(e.requests.map((r) => r.endpoint).filter((x) => x !== "progress")).toEqual(["start", "pause"]);
  });

  it("an unreachable mongosync: a warning, not a failure, within a short window", async () => {
    const spec = mongosyncSpec([await deadUrl()]);
    const ctx = makeContext({ deadlineMs: 60 * 60 * 1000 });
    const handle: MigrationHandle = { engine: "mongosync", id: "x", startedAt: "2026-01-01T00:00:00Z", data: { instances: 1 } };
    const report = await engine.cancel(spec, handle, ctx);
    expect(report.warnings[0]).toContain("nothing was changed");
    expect(ctx.now() - Date.parse("2026-01-01T00:00:00Z")).toBeLessThanOrEqual(60_000);
  });

  it("while COMMITTING: does not pause, explains that a commit cannot be cancelled", async () => {
    const e = await emulator();
    e.setState("COMMITTING");
    const spec = mongosyncSpec([e.url]);
    const report = await engine.cancel(spec, { engine: "mongosync", id: "x", startedAt: "", data: {} }, makeContext());
    expect(e.count("pause")).toBe(0);
    expect(report.warnings[0]).toContain("cannot be cancelled");
  });

  it("pause applied but the answer lost: still reported as paused", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url]);
    const handle = await started([e], spec);
    e.inject({ endpoint: "pause", fault: { kind: "reset", after: true } });
    const report = await engine.cancel(spec, handle, makeContext());
    expect(e.state).toBe("PAUSED");
    expect(report.warnings.join()).toContain("paused mongosync");
  });
});

describe("after a /reverse (outside this resource)", () => {
  it("REVERSING and the reversed RUNNING both read as COMPLETE with a warning", async () => {
    const e = await emulator({ version: "1.19.0" });
    const spec = mongosyncSpec([e.url], { version: "1.19.0", reversible: true });
    const handle = await started([e], spec);
    await engine.cutover(spec, handle, makeContext());
    e.machine.options.advanceOnProgress = false;
    expect("accepted" in e.machine.reverse()).toBe(true);
    const reversing = await engine.status(spec, handle, makeContext());
    expect(reversing.phase).toBe("COMPLETE");
    expect(reversing.warnings.join()).toContain("REVERSING");
    e.advance(1);
    const running = await engine.status(spec, handle, makeContext());
    expect(running.phase).toBe("COMPLETE");
    expect(running.warnings.join()).toContain("reverse");
    expect((await engine.cutover(spec, handle, makeContext())).phase).toBe("COMPLETE");
    expect(e.count("commit")).toBe(1);
  });
});

describe("sharded source: one mongosync per shard", () => {
  it.each(VERSIONS)("mongosync %s, 2 instances: fans out, waits for the slowest shard, sums the copy, commits every instance", async (version) => {
    const [fast, slow] = await emulatorGroup([
      { version, id: "shard-a", shareOfCopy: 0.5, copyTicks: 2 },
      { version, id: "shard-b", shareOfCopy: 0.5, copyTicks: 6 },
    ]);
    const clusters = embeddedVerifier(version, 2) ? undefined : await copiedClusters();
    const spec = mongosyncSpec([fast.url, slow.url], { version }, clusters ? { source: { uri: clusters.sourceUri }, target: { uri: clusters.targetUri } } : {});
    const ctx = makeContext();
    const all = [fast, slow];
    const pre = await counted(all, () => engine.preflight(spec, ctx));
    expect(pre.result.ok).toBe(true);
    const start = await counted(all, () => engine.start(spec, ctx));
    const handle = start.result;
    expect(handle.data.mongosyncIds).toEqual(["shard-a", "shard-b"]);
    expect([fast.machine.startBody, slow.machine.startBody]).toEqual([fast.machine.startBody, fast.machine.startBody]);

    const status = await counted(all, () => engine.status(spec, handle, ctx));
    expect(status.result.phase).toBe("COPYING");
    expect(status.result.details).toMatchObject({ instances: 2 });

    const advanced = await counted(all, () => engine.advance(spec, handle, ctx));
    expect(advanced.result.phase).toBe("READY_FOR_CUTOVER");
    expect(advanced.result.copiedBytes).toBe(10_000_000); // 2 × half
    expect(slow.machine.canCommit).toBe(true);
    expect(fast.machine.startBody).toEqual(expectedStartBody(version, 2));

    const cut = await counted(all, () => engine.cutover(spec, handle, ctx));
    expect(cut.result.phase).toBe("COMPLETE");
    expect(cut.result.verification.mode).toBe(embeddedVerifier(version, 2) ? "engine" : "full");
    expect(cut.result.verification.passed).toBe(true);
    expect([fast.count("commit"), slow.count("commit")]).toEqual([1, 1]);
    expect([fast.state, slow.state]).toEqual(["COMMITTED", "COMMITTED"]);

    const del = await counted(all, () => engine.cancel(spec, handle, ctx));
    if (!embeddedVerifier(version, 2)) verificationSamples.push(`  ${version}, 2 instances: ${cut.result.verification.summary}`);
    callTable.push(
      `  ${version}, 2 instances: ` +
        [["preflight", pre], ["start", start], ["status", status], ["advance", advanced], ["cutover", cut], ["delete after COMPLETE", del]]
          .map(([name, c]) => `${name as string}=${(c as { calls: number }).calls} ${JSON.stringify((c as { byEndpoint: object }).byEndpoint)}`)
          .join("; "),
    );
  });

  it("starts only the instances still IDLE after a partial start", async () => {
    const a = await emulator();
    const b = await emulator();
    b.setState("RUNNING");
    await engine.start(mongosyncSpec([a.url, b.url]), makeContext());
    expect([a.count("start"), b.count("start")]).toEqual([1, 0]);
    expect([a.state, b.state]).toEqual(["RUNNING", "RUNNING"]);
  });

  it("M5: a commit that reached only some instances (ungrouped: the waiting one reports COMMITTING) reads as CUTTING_OVER at once, and the next cutover commits the rest at once", async () => {
    const a = await emulator({ id: "shard-a" });
    const b = await emulator({ id: "shard-b", coordinatorId: "shard-a" });
    const spec = mongosyncSpec([a.url, b.url]);
    const handle = await started([a, b], spec);
    b.inject({ endpoint: "commit", fault: { kind: "envelope", error: "Interrupted", errorDescription: "try again" } });
    const err = (await engine.cutover(spec, handle, makeContext()).catch((x: unknown) => x)) as MongosyncCommitNotAcceptedError;
    expect(err).toBeInstanceOf(MongosyncCommitNotAcceptedError);
    expect(err.nothingCommitted).toBe(false);
    expect(err.message).toContain(`instance 1 (${b.url}) refused it: mongosync at ${b.url} refused POST /api/v1/commit`);
    expect(["COMMITTING", "COMMITTED"]).toContain(a.state);
    expect(b.state).toBe("RUNNING");
    // The next `pulumi up`: advance must not poll as SYNCING for the whole create budget.
    const before = a.count("progress");
    const status = await engine.advance(spec, handle, makeContext());
    expect(status.phase).toBe("CUTTING_OVER");
    expect(a.count("progress") - before).toBe(1);
    const report = await engine.cutover(spec, handle, makeContext());
    expect(report.phase).toBe("COMPLETE");
    expect([a.count("commit"), b.count("commit")]).toEqual([1, 2]);
  });

  it("M6: a grouped /commit refused by one instance is reported per instance at once, not after a request timeout; nothing committed (M9)", async () => {
    const [a, b] = await emulatorGroup([{ id: "shard-a" }, { id: "shard-b" }]);
    const spec = mongosyncSpec([a.url, b.url]);
    const slowEngine = createMongosyncEngine({ requestTimeoutMs: 10 * 60_000 }); // a hang would hit jest's timeout
    const handle = await slowEngine.start(spec, makeContext());
    await slowEngine.advance(spec, handle, makeContext());
    b.inject({ endpoint: "commit", fault: { kind: "envelope", error: "CommitRefused", errorDescription: "canCommit is false" } });
    const err = (await slowEngine.cutover(spec, handle, makeContext()).catch((x: unknown) => x)) as MongosyncCommitNotAcceptedError;
    expect(err).toBeInstanceOf(MongosyncCommitNotAcceptedError);
    expect(err.message).toContain(`instance 0 (${a.url}) received it and waits for the others`);
    expect(err.message).toContain(`instance 1 (${b.url}) refused it`);
    expect(err.nothingCommitted).toBe(true);
    expect([a.state, b.state]).toEqual(["RUNNING", "RUNNING"]);
    const report = await slowEngine.cutover(spec, handle, makeContext());
    expect(report.phase).toBe("COMPLETE");
    expect([a.state, b.state]).toEqual(["COMMITTED", "COMMITTED"]);
  });

  it("M14: canWrite is the coordinator's, also when the coordinator is not the first URL", async () => {
    const [a, b] = await emulatorGroup([{ commitTicks: 6 }, { commitTicks: 6 }], { coordinator: 1 });
    const spec = mongosyncSpec([a.url, b.url]);
    const handle = await started([a, b], spec);
    await engine.advance(spec, handle, makeContext());
    a.machine.options.advanceOnProgress = false;
    b.machine.options.advanceOnProgress = false;
    await Promise.all([fetch(`${a.url}/api/v1/commit`, { method: "POST", body: "{}" }), fetch(`${b.url}/api/v1/commit`, { method: "POST", body: "{}" })]);
    const status = await engine.status(spec, handle, makeContext());
    expect(status.phase).toBe("CUTTING_OVER");
    expect(status.details).toMatchObject({ canWrite: false }); // instance 0 claims true, the coordinator says false
  });

  it("delete pauses every running shard", async () => {
    const a = await emulator();
    const b = await emulator();
    const spec = mongosyncSpec([a.url, b.url]);
    const handle = await started([a, b], spec);
    const report = await engine.cancel(spec, handle, makeContext());
    expect([a.state, b.state]).toEqual(["PAUSED", "PAUSED"]);
    expect(report.warnings.join()).toContain("2 instance(s)");
  });
});

describe("M3: direction — never adopt a mongosync going the other way", () => {
  it("a mongosync RUNNING cluster1 → cluster0 is a preflight error and start refuses to adopt it (no COMPLETE without /commit)", async () => {
    const e = await emulator();
    e.setState("RUNNING", { runTicks: 20, source: "cluster1" });
    const spec = mongosyncSpec([e.url]);
    const pre = await engine.preflight(spec, makeContext());
    expect(pre.ok).toBe(false);
    expect(pre.errors.map((f) => f.code)).toEqual(["MONGOSYNC_WRONG_DIRECTION"]);
    const err = (await engine.start(spec, makeContext()).catch((x: unknown) => x)) as Error;
    expect((err as { code?: string }).code).toBe("MONGOSYNC_WRONG_DIRECTION");
    expect(e.count("start") + e.count("commit")).toBe(0);
  });

  it("swapped --cluster0/--cluster1 (cluster0's host is the target URI's): refused before adopting, paused right after a fresh /start", async () => {
    const swappedHosts = { cluster0Host: "target.example:27017", cluster1Host: "source.example:27017" };
    const uris = { source: { uri: "mongodb://admin:s3cr3t-pw@source.example:27017" }, target: { uri: "mongodb://app:t4rget-pw@target.example:27017" }, verification: "none" as const };
    const running = await emulator(swappedHosts);
    running.setState("RUNNING", { runTicks: 2 });
    const pre = await engine.preflight(mongosyncSpec([running.url], {}, uris), makeContext());
    expect(pre.errors.map((f) => f.code)).toEqual(["MONGOSYNC_CLUSTERS_SWAPPED"]);
    expect(pre.errors[0].message).not.toMatch(/s3cr3t|t4rget/);
    const idle = await emulator(swappedHosts);
    const err = (await engine.start(mongosyncSpec([idle.url], {}, uris), makeContext()).catch((x: unknown) => x)) as Error;
    expect((err as { code?: string }).code).toBe("MONGOSYNC_CLUSTERS_SWAPPED");
    expect(idle.state).toBe("PAUSED");
  });
});

describe("M4: verification says what was verified", () => {
  it("no verifier (1.8) and the engine's own comparison finds a difference: cutover does not report COMPLETE, and says where", async () => {
    const { sourceUri, targetUri, target } = await copiedClusters(10);
    await target.db("shop").collection<{ _id: number; qty: number }>("orders").updateOne({ _id: 3 }, { $set: { qty: 99 } });
    const e = await emulator({ version: "1.8.0" });
    const spec = mongosyncSpec([e.url], { version: "1.8.0" }, { source: { uri: sourceUri }, target: { uri: targetUri } });
    const handle = await started([e], spec);
    const err = (await engine.cutover(spec, handle, makeContext()).catch((x: unknown) => x)) as Error;
    expect(err).toBeInstanceOf(EngineFailedError);
    expect(err.message).toContain("verification did not pass");
    expect(err.message).toContain("shop.orders");
    expect(e.state).toBe("COMMITTED");
    // Fixed, the next run verifies again and completes.
    await target.db("shop").collection<{ _id: number; qty: number }>("orders").updateOne({ _id: 3 }, { $set: { qty: 3 } });
    const report = await engine.cutover(spec, handle, makeContext());
    expect(report.verification).toMatchObject({ mode: "full", passed: true });
  });

  it("no verifier and no URIs: preflight names it, and cutover refuses before any /commit", async () => {
    const e = await emulator({ version: "1.8.0" });
    const spec = mongosyncSpec([e.url], { version: "1.8.0" }, { source: {}, target: {} });
    const pre = await engine.preflight(spec, makeContext());
    expect(pre.errors.map((f) => f.code)).toEqual(["MONGOSYNC_CANNOT_VERIFY"]);
    const handle = await engine.start({ ...spec, verification: "none" }, makeContext());
    const err = (await engine.cutover(spec, handle, makeContext()).catch((x: unknown) => x)) as Error;
    expect((err as { code?: string }).code).toBe("MONGOSYNC_CANNOT_VERIFY");
    expect(e.count("commit")).toBe(0);
    const none = await engine.cutover({ ...spec, verification: "none" }, handle, makeContext());
    expect(none.verification).toMatchObject({ mode: "none", passed: true });
    expect(none.verification.summary).toContain("no embedded verifier");
  });

  it("a 1.9 sharded group has no verifier either: the engine verifies through the URIs", async () => {
    const clusters = await copiedClusters(5);
    const [a, b] = await emulatorGroup([{ version: "1.9.0" }, { version: "1.9.0" }]);
    const spec = mongosyncSpec([a.url, b.url], { version: "1.9.0" }, { source: { uri: clusters.sourceUri }, target: { uri: clusters.targetUri } });
    const handle = await started([a, b], spec);
    const report = await engine.cutover(spec, handle, makeContext());
    expect(report.verification.mode).toBe("full");
    expect(report.verification.summary).toContain("disables its verifier when a sharded cluster takes part");
  });
});

describe("version-specific start and retries", () => {
  it("M7: a 5.0 source on 1.15 with writeBlocking none: the /start body has no enableUserWriteBlocking and mongosync accepts it", async () => {
    const e = await emulator({ version: "1.15.0", sourceServerVersion: "5.0.20" });
    const spec = mongosyncSpec([e.url], { version: "1.15.0", sourceServerVersion: "5.0.20" }, { writeBlocking: "none" });
    await engine.start(spec, makeContext());
    expect(e.state).toBe("RUNNING");
    expect(e.machine.startBody).toEqual({ source: "cluster0", destination: "cluster1", verification: { enabled: true } });
  });

  it("M8: a /start refused on one of two instances keeps the migration (a handle), and the next advance starts the rest", async () => {
    const [a, b] = await emulatorGroup([{}, {}]);
    const spec = mongosyncSpec([a.url, b.url]);
    b.inject({ endpoint: "start", fault: { kind: "envelope", error: "Busy", errorDescription: "try again" } });
    const ctx = makeContext();
    const handle = await engine.start(spec, ctx);
    expect(handle.data.startIncomplete).toBe(true);
    expect([a.state, b.state]).toEqual(["RUNNING", "IDLE"]);
    const status = await engine.advance(spec, handle, makeContext());
    expect(b.count("start")).toBe(2);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
  });

  it("M1: a 1.7 /progress without `success`, and its `{error}` form, are understood (the error is retried)", async () => {
    const e = await emulator({ version: "1.7.0" });
    e.inject({ endpoint: "progress", fault: { kind: "envelope", status: 503, error: "NotReady", errorDescription: "restarting" } });
    const status = await engine.status(mongosyncSpec([e.url], { version: "1.7.0" }), { engine: "mongosync", id: "x", startedAt: "", data: {} }, makeContext());
    expect(status.phase).toBe("PENDING");
    expect(e.count("progress")).toBe(2);
  });

  it("M11: with keepPaused a PAUSED mongosync stays paused: advance does not resume, cutover refuses, and the warning says how to resume", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url], { keepPaused: true });
    const handle = await started([e], spec);
    e.setState("PAUSED", { runTicks: 10 });
    const status = await engine.advance(spec, handle, makeContext());
    expect(e.count("resume")).toBe(0);
    expect(status.warnings.join()).toContain("stays paused (mongosync.keepPaused: true)");
    await expect(engine.cutover(spec, handle, makeContext())).rejects.toThrow(/keepPaused/);
    expect(e.count("commit") + e.count("resume")).toBe(0);
    const unpaused = await engine.status(mongosyncSpec([e.url]), handle, makeContext());
    expect(unpaused.warnings.join()).toContain("to keep it paused set mongosync.keepPaused: true");
  });
});

describe("reverse sync (rollback) after COMPLETE", () => {
  const rollbackTable: string[] = [];
  afterAll(() => {
    if (rollbackTable.length > 0) console.log(`mongosync rollback round trip (API calls)\n${rollbackTable.join("\n")}`);
  });

  it.each([["1.19.0", 1], ["1.22.0", 1], ["1.22.0", 2], ["1.11.0", 1]] as const)("mongosync %s, %i instance(s): cutover → rollback (REVERSING → RUNNING back) → rollback commit", async (version, n) => {
    const clusters = await copiedClusters(8);
    const emulators = n === 1 ? [await emulator({ version })] : await emulatorGroup(Array.from({ length: n }, () => ({ version })));
    const spec = mongosyncSpec(emulators.map((e) => e.url), { version, reversible: true }, { source: { uri: clusters.sourceUri }, target: { uri: clusters.targetUri } });
    const reverser = engineFor("mongosync");
    if (!isMongosyncEngine(reverser)) throw new Error("the mongosync engine has rollback methods");
    const ctx = makeContext();
    const handle = await reverser.start(spec, ctx);
    expect(emulators[0].machine.startBody).toMatchObject({ reversible: true });
    const cut = await counted(emulators, () => reverser.cutover(spec, handle, ctx));
    expect(cut.result.phase).toBe("COMPLETE");

    const back = await counted(emulators, () => reverser.rollback(spec, handle, ctx));
    expect(back.byEndpoint.reverse).toBe(n);
    expect(back.result.phase).toBe("COMPLETE");
    expect(back.result.details).toMatchObject({ rollback: "READY_TO_COMMIT", direction: "cluster1 → cluster0" });
    expect(emulators.every((e) => e.state === "RUNNING")).toBe(true);
    const again = await counted(emulators, () => reverser.rollback(spec, handle, ctx));
    expect(again.byEndpoint.reverse).toBeUndefined(); // idempotent

    const commit = await counted(emulators, () => reverser.commitRollback(spec, handle, ctx));
    expect(commit.byEndpoint.commit).toBe(n);
    expect(commit.result.verification).toMatchObject({ mode: "full", passed: true });
    expect(commit.result.warnings[0]).toContain("rolled back");
    expect(emulators.every((e) => e.state === "COMMITTED")).toBe(true);
    const status = await reverser.status(spec, handle, ctx);
    expect(status.details).toMatchObject({ rollback: "COMMITTED", direction: "cluster1 → cluster0" });
    const commitAgain = await counted(emulators, () => reverser.commitRollback(spec, handle, ctx));
    expect(commitAgain.byEndpoint.commit).toBeUndefined();
    rollbackTable.push(
      `  ${version}, ${n} instance(s): cutover=${JSON.stringify(cut.byEndpoint)}; rollback=${JSON.stringify(back.byEndpoint)}; ` +
        `rollback again=${JSON.stringify(again.byEndpoint)}; rollback commit=${JSON.stringify(commit.byEndpoint)}; again=${JSON.stringify(commitAgain.byEndpoint)}`,
    );
  });

  it("is refused with a named reason where mongosync refuses it, before any /reverse", async () => {
    const reverser = engineFor("mongosync");
    if (!isMongosyncEngine(reverser)) throw new Error("rollback methods");
    const e = await emulator({ version: "1.22.0" });
    const spec = mongosyncSpec([e.url], {}, { verification: "none" });
    const handle = await reverser.start(spec, makeContext());
    await reverser.cutover(spec, handle, makeContext());
    await expect(reverser.rollback(spec, handle, makeContext())).rejects.toThrow(/not started with mongosync.reversible: true/);
    const filtered = { ...spec, namespaces: { include: ["shop.*"], exclude: [] } };
    await expect(reverser.rollback(filtered, { ...handle, data: { ...handle.data, reversible: true } }, makeContext())).rejects.toThrow(/filtered sync/);
    const preSix = mongosyncSpec([e.url], { sourceServerVersion: "5.0.1" }, { verification: "none" });
    await expect(reverser.rollback(preSix, { ...handle, data: { ...handle.data, reversible: true } }, makeContext())).rejects.toThrow(/pre|6\.0/);
    expect(e.count("reverse")).toBe(0);
    // Before the cutover there is nothing to roll back.
    const fresh = await emulator({ version: "1.22.0" });
    const rSpec = mongosyncSpec([fresh.url], { reversible: true }, { verification: "none" });
    const h2 = await reverser.start(rSpec, makeContext());
    await expect(reverser.rollback(rSpec, h2, makeContext())).rejects.toThrow(/nothing to roll back/);
    await expect(reverser.commitRollback(rSpec, h2, makeContext())).rejects.toThrow(/set mongosync.rollback: true first/);
  });
});

describe("M16: instances", () => {
  it("two instances started with the same --id (same mongosyncID once running): paused right after /start, named", async () => {
    const [a, b] = await emulatorGroup([{ id: "shard01" }, { id: "shard01" }]);
    const err = (await engine.start(mongosyncSpec([a.url, b.url]), makeContext()).catch((x: unknown) => x)) as Error;
    expect((err as { code?: string }).code).toBe("MONGOSYNC_DUPLICATE_INSTANCE");
    expect(err.message).toContain("--id");
    expect([a.state, b.state]).toEqual(["PAUSED", "PAUSED"]);
  });

  it("an instance that turned IDLE after a complete start is not started again (it lost its metadata)", async () => {
    const [a, b] = await emulatorGroup([{}, {}]);
    const spec = mongosyncSpec([a.url, b.url]);
    const handle = await started([a, b], spec);
    b.setState("IDLE");
    const status = await engine.advance(spec, handle, makeContext({ deadlineMs: 5_000 }));
    expect(b.count("start")).toBe(1);
    expect(status.phase).not.toBe("READY_FOR_CUTOVER");
  });
});
