// The mongosync engine through the MigrationEngine interface (engineFor("mongosync")) against emulators:
// the whole lifecycle, every injected fault, several instances, and the API calls each step costs.
import { DeadlineExceededError, EngineFailedError } from "../../../provider/errors";
import type { MigrationEngine, MigrationHandle, MigrationSpec } from "../../../provider/engines/engine";
import { MongosyncApiError } from "../../../provider/engines/mongosync/client";
import { engineFor } from "../../../provider/engines/registry";
import type { MongosyncEmulator } from "../../../testing/mongosync-emulator";
import { makeContext, type TestContext } from "../../support/context";
import { deadUrl, emulator, mongosyncSpec, stopEmulators } from "./helpers";

afterEach(stopEmulators);

const engine: MigrationEngine = engineFor("mongosync");
const callTable: string[] = [];

afterAll(() => {
  if (callTable.length > 0) console.log(`mongosync API calls per lifecycle step\n${callTable.join("\n")}`);
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

describe("lifecycle (create → status → cutover → delete) against one mongosync", () => {
  it.each(["1.22.0", "1.19.0"])("mongosync %s", async (version) => {
    const e = await emulator({ version });
    const spec = mongosyncSpec([e.url], { version });
    const ctx = makeContext();
    const steps: Array<[string, number, Record<string, number>]> = [];

    const pre = await counted([e], () => engine.preflight(spec, ctx));
    steps.push(["preflight", pre.calls, pre.byEndpoint]);
    expect(pre.result.ok).toBe(true);
    expect(pre.result.facts).toMatchObject({ mongosyncVersion: version, mongosyncInstances: 1 });

    const start = await counted([e], () => engine.start(spec, ctx));
    steps.push(["start", start.calls, start.byEndpoint]);
    const handle = start.result;
    expect(handle.engine).toBe("mongosync");
    expect(e.machine.startBody).toEqual(
      version === "1.22.0"
        ? { source: "cluster0", destination: "cluster1", verification: { enabled: true } }
        : { source: "cluster0", destination: "cluster1", verification: { enabled: true }, enableUserWriteBlocking: "sourceAndDestination" },
    );

    const status = await counted([e], () => engine.status(spec, handle, ctx));
    steps.push(["status (read)", status.calls, status.byEndpoint]);
    expect(status.result.phase).toBe("COPYING");
    expect(status.result.details).toMatchObject({ mongosyncState: "RUNNING", verifierPhase: "initial hashing" });
    expect(status.result.totalBytes).toBe(10_000_000);

    const advanced = await counted([e], () => engine.advance(spec, handle, ctx));
    steps.push(["advance (create wait)", advanced.calls, advanced.byEndpoint]);
    expect(advanced.result).toMatchObject({ phase: "READY_FOR_CUTOVER", readyForCutover: true, lagSeconds: 2, copiedBytes: 10_000_000 });
    expect(advanced.result.details).toMatchObject({ verifierPhase: "stream hashing", canCommit: true });

    const cut = await counted([e], () => engine.cutover(spec, handle, ctx));
    steps.push(["cutover", cut.calls, cut.byEndpoint]);
    expect(cut.result.phase).toBe("COMPLETE");
    expect(cut.result.verification).toMatchObject({ mode: "engine", passed: true });
    expect(cut.result.warnings.join("\n")).toContain(version === "1.22.0" ? "__mdb_internal_mongosync" : "mongosync_reserved_for_internal_use");
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

  it("a verifier that is disabled is not waited for, and the cutover report says nothing was verified", async () => {
    const e = await emulator();
    const spec = mongosyncSpec([e.url], { enableVerification: false });
    const handle = await started([e], spec);
    const report = await engine.cutover(spec, handle, makeContext());
    expect(e.machine.startBody?.verification).toEqual({ enabled: false });
    expect(report.verification.mode).toBe("none");
    expect(report.verification.summary).toContain("not verified");
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

  it("finds the version from /info when the spec has none, and refuses when nothing tells it", async () => {
    const withInfo = await emulator({ version: "1.19.1", infoEndpoint: true });
    const r1 = await engine.preflight(mongosyncSpec([withInfo.url], { version: undefined }), makeContext());
    expect(r1.facts).toMatchObject({ mongosyncVersion: "1.19.1", mongosyncVersionSource: "GET /api/v1/info", writeBlocking: "sourceAndDestination" });
    const inProgress = await emulator({ version: "1.21.0", versionInProgress: true });
    const r2 = await engine.preflight(mongosyncSpec([inProgress.url], { version: undefined }), makeContext());
    expect(r2.facts).toMatchObject({ mongosyncVersion: "1.21.0", mongosyncVersionSource: "GET /api/v1/progress" });
    const silent = await emulator();
    const r3 = await engine.preflight(mongosyncSpec([silent.url], { version: undefined }), makeContext());
    expect(r3.ok).toBe(false);
    expect(r3.errors.map((f) => f.code)).toEqual(["MONGOSYNC_VERSION_UNKNOWN"]);
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
    await expect(engine.cutover(spec, handle, makeContext())).rejects.toBeInstanceOf(MongosyncApiError);
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
    expect(e.machine.reverse()).toBeUndefined();
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
  it("fans out, waits for the slowest shard, sums the copy, commits every instance", async () => {
    const fast = await emulator({ id: "shard-a", shareOfCopy: 0.5, copyTicks: 2 });
    const slow = await emulator({ id: "shard-b", shareOfCopy: 0.5, copyTicks: 6 });
    const spec = mongosyncSpec([fast.url, slow.url]);
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

    const cut = await counted(all, () => engine.cutover(spec, handle, ctx));
    expect(cut.result.phase).toBe("COMPLETE");
    expect([fast.count("commit"), slow.count("commit")]).toEqual([1, 1]);
    expect([fast.state, slow.state]).toEqual(["COMMITTED", "COMMITTED"]);

    const del = await counted(all, () => engine.cancel(spec, handle, ctx));
    callTable.push(
      "  1.22.0, 2 instances: " +
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

  it("a commit interrupted between shards is finished on the next run, each shard committed once", async () => {
    const a = await emulator();
    const b = await emulator();
    const spec = mongosyncSpec([a.url, b.url]);
    const handle = await started([a, b], spec);
    b.inject({ endpoint: "commit", fault: { kind: "envelope", error: "Interrupted", errorDescription: "try again" } });
    await expect(engine.cutover(spec, handle, makeContext())).rejects.toBeInstanceOf(MongosyncApiError);
    expect(["COMMITTING", "COMMITTED"]).toContain(a.state);
    expect(b.state).toBe("RUNNING");
    const report = await engine.cutover(spec, handle, makeContext());
    expect(report.phase).toBe("COMPLETE");
    expect([a.count("commit"), b.count("commit")]).toEqual([1, 2]);
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
