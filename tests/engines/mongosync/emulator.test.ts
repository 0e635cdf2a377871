// MongosyncEmulator on its own, over plain HTTP: the documented states, transitions, fields and envelopes.
// Users get it from pulumi-atlas-migration/testing, so it is checked without our client in between.
import { emulator, emulatorGroup as startGroupTracked, stopEmulators } from "./helpers";

afterEach(stopEmulators);

async function call(base: string, method: "GET" | "POST", endpoint: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1/${endpoint}`, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}
const start = { source: "cluster0", destination: "cluster1" };

describe("MongosyncEmulator", () => {
  it("IDLE: every progress field but state and canCommit is null", async () => {
    const e = await emulator();
    const { status, json } = await call(e.url, "GET", "progress");
    expect(status).toBe(200);
    expect(json.success).toBe(true);
    const { state, canCommit, ...rest } = json.progress;
    expect([state, canCommit]).toEqual(["IDLE", false]);
    expect(Object.values(rest).every((v) => v === null)).toBe(true);
  });

  it("walks copy → change event application → canCommit → COMMITTING (canWrite) → COMMITTED", async () => {
    const e = await emulator({ copyTicks: 2, catchUpTicks: 2, verifierTicks: 1, commitTicks: 2 });
    expect((await call(e.url, "POST", "start", start)).json).toEqual({ success: true });
    const seen: Array<Record<string, any>> = [];
    for (let i = 0; i < 5; i++) seen.push((await call(e.url, "GET", "progress")).json.progress);
    expect(seen.map((p) => p.info)).toEqual(["collection copy", "collection copy", "change event application", "change event application", "change event application"]);
    expect(seen.map((p) => p.collectionCopy.estimatedCopiedBytes)).toEqual([0, 5_000_000, 10_000_000, 10_000_000, 10_000_000]);
    expect(seen[0].collectionCopy.estimatedTotalBytes).toBe(1); // placeholder before the copy starts
    expect(seen.map((p) => p.lagTimeSeconds)).toEqual([120, 120, 120, 61, 2]);
    expect(seen.map((p) => p.canCommit)).toEqual([false, false, false, false, true]);
    // 1.22: the verifier starts at change event application, "not started" during the copy (embedded.txt).
    expect(seen.map((p) => p.verification.source.phase)).toEqual(["not started", "not started", "initial hashing", "stream hashing", "stream hashing"]);
    expect(seen[4].lag).toEqual({ overallLagSeconds: 2, crudLagSeconds: 2, ddlLagSeconds: null });
    expect(seen[4].ceaStage).toBe("steady state");

    expect((await call(e.url, "POST", "commit", {})).json.success).toBe(true);
    const after: Array<Record<string, any>> = [];
    for (let i = 0; i < 3; i++) after.push((await call(e.url, "GET", "progress")).json.progress);
    expect(after.map((p) => [p.state, p.canWrite])).toEqual([["COMMITTING", false], ["COMMITTING", true], ["COMMITTED", true]]);
    expect(after[2].info).toBe("commit completed");
  });

  it("refuses commands in the wrong state with the error envelope", async () => {
    const e = await emulator();
    for (const endpoint of ["pause", "resume", "commit", "reverse"]) {
      const { status, json } = await call(e.url, "POST", endpoint, {});
      expect(status).toBe(400);
      expect(json).toMatchObject({ success: false, error: "InvalidStateTransition" });
      expect(json.errorDescription).toContain(`/${endpoint} requires`);
    }
    await call(e.url, "POST", "start", start);
    const again = await call(e.url, "POST", "start", start);
    expect(again.json.errorDescription).toContain("/start requires IDLE");
    const early = await call(e.url, "POST", "commit", {});
    expect(early.json.errorDescription).toContain("canCommit is false");
  });

  it("pause and resume; PAUSED has no lag", async () => {
    const e = await emulator({ advanceOnProgress: false });
    await call(e.url, "POST", "start", start);
    await call(e.url, "POST", "pause", {});
    const paused = (await call(e.url, "GET", "progress")).json.progress;
    expect(paused.state).toBe("PAUSED");
    expect(paused.lag).toBeNull();
    expect(paused.lagTimeSeconds).toBeNull();
    await call(e.url, "POST", "resume", {});
    expect(e.state).toBe("RUNNING");
  });

  it("reverse only after a reversible commit, then RUNNING the other way", async () => {
    const e = await emulator({ version: "1.19.0", advanceOnProgress: false });
    await call(e.url, "POST", "start", { ...start, reversible: true, enableUserWriteBlocking: "sourceAndDestination" });
    e.advance(10);
    await call(e.url, "POST", "commit", {});
    e.advance(5);
    expect((await call(e.url, "POST", "reverse", {})).json.success).toBe(true);
    expect(e.state).toBe("REVERSING");
    e.advance(1);
    const p = (await call(e.url, "GET", "progress")).json.progress;
    expect(p.state).toBe("RUNNING");
    expect(p.directionMapping.Source).toMatch(/^cluster1: /);
  });

  it("validates the /start body per version", async () => {
    const v22 = await emulator({ version: "1.22.0" });
    expect((await call(v22.url, "POST", "start", { ...start, enableUserWriteBlocking: "none" })).json.errorDescription).toContain("unknown field");
    expect((await call(v22.url, "POST", "start", { source: "cluster0", destination: "cluster0" })).json.success).toBe(false);
    expect((await call(v22.url, "POST", "start", { ...start, includeNamespaces: [{ collections: ["a"] }] })).json.errorDescription).toContain("database");
    expect((await call(v22.url, "POST", "start", { ...start, reversible: true, excludeNamespaces: [{ database: "a" }] })).json.errorDescription).toContain("filtering");
    const v10 = await emulator({ version: "1.10.0" });
    expect((await call(v10.url, "POST", "start", { ...start, enableUserWriteBlocking: "sourceAndDestination" })).json.success).toBe(false); // strings from 1.11
    expect((await call(v10.url, "POST", "start", { ...start, enableUserWriteBlocking: true })).json.success).toBe(true);
  });

  it("1.11 knows only true, false and \"destinationOnly\"; the 1.12 strings are refused there (v1.11 start.txt)", async () => {
    for (const value of ["sourceAndDestination", "none"]) {
      const v11 = await emulator({ version: "1.11.0" });
      expect((await call(v11.url, "POST", "start", { ...start, enableUserWriteBlocking: value })).json.errorDescription).toContain("invalid enableUserWriteBlocking");
    }
    for (const value of [true, false, "destinationOnly"]) {
      const v11 = await emulator({ version: "1.11.0" });
      expect((await call(v11.url, "POST", "start", { ...start, enableUserWriteBlocking: value })).json.success).toBe(true);
    }
    const v12 = await emulator({ version: "1.12.0" });
    expect((await call(v12.url, "POST", "start", { ...start, enableUserWriteBlocking: "sourceAndDestination" })).json.success).toBe(true);
  });

  it("a pre-6.0 source: no enableUserWriteBlocking at all on 1.12–1.19, no true on 1.11, never reversible", async () => {
    const v15 = await emulator({ version: "1.15.0", sourceServerVersion: "5.0.20" });
    expect((await call(v15.url, "POST", "start", { ...start, enableUserWriteBlocking: "none" })).json.errorDescription).toContain("pre-6.0");
    expect((await call(v15.url, "POST", "start", { ...start, enableUserWriteBlocking: "sourceAndDestination", reversible: true })).json.success).toBe(false);
    expect((await call(v15.url, "POST", "start", start)).json.success).toBe(true);
    const v11 = await emulator({ version: "1.11.0", sourceServerVersion: "4.4.0" });
    expect((await call(v11.url, "POST", "start", { ...start, enableUserWriteBlocking: true })).json.errorDescription).toContain("pre-6.0");
    expect((await call(v11.url, "POST", "start", { ...start, enableUserWriteBlocking: "destinationOnly" })).json.success).toBe(true);
  });

  it("reversible is refused for replica set → sharded (a sharding option) and -1 shard keys are refused", async () => {
    const e = await emulator({ version: "1.20.0" });
    const sharding = { createSupportingIndexes: true, shardingEntries: [{ database: "d", collection: "c", shardCollection: { key: [{ k: 1 }] } }] };
    expect((await call(e.url, "POST", "start", { ...start, reversible: true, sharding })).json.errorDescription).toContain("replica set to a sharded");
    const bad = { ...sharding, shardingEntries: [{ database: "d", collection: "c", shardCollection: { key: [{ k: -1 }] } }] };
    expect((await call(e.url, "POST", "start", { ...start, sharding: bad })).json.errorDescription).toContain("1 or");
  });

  it("/progress has no top-level success before 1.8 (v1.7 progress.json), and has it from 1.8", async () => {
    const v17 = await emulator({ version: "1.7.0" });
    const old = (await call(v17.url, "GET", "progress")).json;
    expect(old.success).toBeUndefined();
    expect(old.progress.state).toBe("IDLE");
    v17.inject({ endpoint: "progress", fault: { kind: "envelope", status: 503, error: "NotReady", errorDescription: "restarting" } });
    expect((await call(v17.url, "GET", "progress")).json).toEqual({ error: "NotReady: restarting" });
    expect((await call(v17.url, "POST", "start", start)).json).toEqual({ success: true }); // commands always had it
    const v18 = await emulator({ version: "1.8.0" });
    expect((await call(v18.url, "GET", "progress")).json.success).toBe(true);
  });

  it("honours the /start direction: started cluster1 → cluster0 it reports Source cluster1", async () => {
    const e = await emulator({ advanceOnProgress: false });
    await call(e.url, "POST", "start", { source: "cluster1", destination: "cluster0" });
    const p = (await call(e.url, "GET", "progress")).json.progress;
    expect(p.directionMapping).toEqual({ Source: "cluster1: target.example:27017", Destination: "cluster0: source.example:27017" });
  });

  it("no verifier on 1.8, none on a sharded 1.9, but one on a sharded 1.10; 1.22 reports \"not started\" during the copy", async () => {
    const cases: Array<[string, boolean, boolean]> = [["1.8.0", false, false], ["1.9.0", true, false], ["1.9.0", false, true], ["1.10.0", true, true]];
    for (const [version, sharded, present] of cases) {
      const e = await emulator({ version, sharded, advanceOnProgress: false });
      await call(e.url, "POST", "start", start);
      e.advance(1);
      expect([version, sharded, (await call(e.url, "GET", "progress")).json.progress.verification !== undefined]).toEqual([version, sharded, present]);
    }
    const v22 = await emulator({ version: "1.22.0", copyTicks: 3, advanceOnProgress: false });
    await call(v22.url, "POST", "start", start);
    e22: for (let i = 0; i < 3; i++) {
      v22.advance(1);
      const p = (await call(v22.url, "GET", "progress")).json.progress;
      if (p.info !== "collection copy") break e22;
      expect(p.verification.source.phase).toBe("not started");
    }
    const v21 = await emulator({ version: "1.21.0", copyTicks: 3, advanceOnProgress: false });
    await call(v21.url, "POST", "start", start);
    v21.advance(1);
    expect((await call(v21.url, "GET", "progress")).json.progress.verification.source.phase).toBe("initial hashing");
  });

  it("copyInNaturalOrder is a 1.16 field", async () => {
    const field = { copyInNaturalOrder: [{ database: "d", collections: ["c"] }] };
    expect((await call((await emulator({ version: "1.15.0" })).url, "POST", "start", { ...start, ...field })).json.errorDescription).toContain("unknown field");
    expect((await call((await emulator({ version: "1.16.0" })).url, "POST", "start", { ...start, ...field })).json.success).toBe(true);
  });

  it("INITIALIZING does not exist before 1.20", async () => {
    await expect(emulator({ version: "1.19.0", initializingTicks: 2 })).rejects.toThrow(/1\.20/);
  });

  it("a group: /commit answers only once every instance has it; a refusing instance leaves the others waiting", async () => {
    const [a, b] = await startGroupTracked([{ advanceOnProgress: false }, { advanceOnProgress: false }]);
    for (const e of [a, b]) {
      await call(e.url, "POST", "start", start);
      e.advance(10);
    }
    const first = call(a.url, "POST", "commit", {});
    let firstDone = false;
    void first.then(() => (firstDone = true));
    await call(a.url, "GET", "progress");
    expect(firstDone).toBe(false);
    expect(a.state).toBe("RUNNING"); // waiting for b
    b.machine.lagOverride = 500;
    expect((await call(b.url, "POST", "commit", {})).json.error).toBe("InvalidStateTransition");
    expect(firstDone).toBe(false);
    b.machine.lagOverride = undefined;
    expect((await call(b.url, "POST", "commit", {})).json.success).toBe(true);
    expect((await first).json.success).toBe(true);
    expect([a.state, b.state]).toEqual(["COMMITTING", "COMMITTING"]);
  });

  it("a group: only the coordinator's canWrite counts; the others claim it as soon as they commit", async () => {
    const [a, b] = await startGroupTracked([{ advanceOnProgress: false, commitTicks: 4 }, { advanceOnProgress: false, commitTicks: 4 }], { coordinator: 1 });
    for (const e of [a, b]) {
      await call(e.url, "POST", "start", start);
      e.advance(10);
    }
    await Promise.all([call(a.url, "POST", "commit", {}), call(b.url, "POST", "commit", {})]);
    const pa = (await call(a.url, "GET", "progress")).json.progress;
    const pb = (await call(b.url, "GET", "progress")).json.progress;
    expect([pa.coordinatorID, pb.coordinatorID]).toEqual([pb.mongosyncID, pb.mongosyncID]);
    expect([pa.canWrite, pb.canWrite]).toEqual([true, false]);
  });

  it("reports fields by version: no lag object before 1.21, no verifier before 1.9, no ids before 1.3", async () => {
    const old = await emulator({ version: "1.2.0", advanceOnProgress: false });
    await call(old.url, "POST", "start", start);
    old.advance(1);
    const p = (await call(old.url, "GET", "progress")).json.progress;
    expect(p.lag).toBeUndefined();
    expect(p.verification).toBeUndefined();
    expect(p.mongosyncID).toBeUndefined();
    expect(p.lagTimeSeconds).toBe(120);
  });

  it("1.21+: canCommit turns false while lag exceeds 30 s", async () => {
    const e = await emulator({ version: "1.21.0", advanceOnProgress: false });
    await call(e.url, "POST", "start", start);
    e.advance(10);
    expect(e.machine.canCommit).toBe(true);
    e.machine.lagOverride = 45;
    expect(e.machine.canCommit).toBe(false);
  });

  it("404 envelope for unknown paths (and /info unless enabled); a POST needs a JSON body", async () => {
    const e = await emulator();
    expect(await call(e.url, "GET", "info")).toMatchObject({ status: 404, json: { success: false, error: "NotFound" } });
    const res = await fetch(`${e.url}/api/v1/pause`, { method: "POST" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { errorDescription: string }).errorDescription).toContain("send {}");
    const withInfo = await emulator({ infoEndpoint: true, version: "1.20.1" });
    expect((await call(withInfo.url, "GET", "info")).json).toEqual({ success: true, version: "1.20.1" });
  });

  it("logs every request with its status and the state after it", async () => {
    const e = await emulator();
    e.inject({ endpoint: "progress", fault: { kind: "http500" } });
    await fetch(`${e.url}/api/v1/progress`);
    await call(e.url, "POST", "start", start);
    expect(e.requests.map(({ method, endpoint, status, stateAfter, fault }) => ({ method, endpoint, status, stateAfter, fault }))).toEqual([
      { method: "GET", endpoint: "progress", status: 500, stateAfter: "IDLE", fault: "http500" },
      { method: "POST", endpoint: "start", status: 200, stateAfter: "RUNNING", fault: undefined },
    ]);
    expect(e.count("start")).toBe(1);
  });
});
