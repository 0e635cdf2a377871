// Cutover modes and verification: snapshot reconciliation for standalone sources, read-only users,
// writeBlocking none (quiet stream), verification failures that name namespaces and _ids, counts mode.
import { ObjectId } from "mongodb";
import { MemoryCluster } from "../../../testing/memory-cluster";
import { DeadlineExceededError, EngineFailedError } from "../../../provider/errors";
import { compare, exactDocs, expectIdentical, rig, seed, syncUntilReady } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

describe("snapshot mode (standalone source)", () => {
  test("copy at start; at cutover users go read-only, changes are reconciled, then verified", async () => {
    const r = rig({
      source: { topology: "standalone", version: "5.0.20" },
      spec: { writeBlocking: "readOnlyUsers" },
      builtin: { readOnlyUsers: ["app@admin"] },
    });
    r.source.addUser("app", "admin", [{ role: "readWrite", db: "shop" }]);
    await seed(r.source, "shop", "orders", 300);
    await seed(r.source, "shop", "gone", 3);
    const { handle, status } = await syncUntilReady(r);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(status.lagSeconds).toBeNull();
    expect(status.warnings.join(" ")).toMatch(/snapshot mode/);

    // Changes made after the copy: no change stream sees them.
    const app = r.source.as("app", "admin").db("shop").collection<AnyDoc>("orders");
    await app.updateOne({ _id: 5 }, { $set: { n: "changed" } });
    await app.deleteOne({ _id: 6 });
    await app.insertOne({ _id: 1000, n: "new" });
    await r.source.db("shop").collection<AnyDoc>("gone").drop();
    await r.source.db("shop").collection<AnyDoc>("fresh").insertOne({ _id: 1 });

    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    await expect(app.insertOne({ _id: 2000 })).rejects.toThrow(/not authorized/);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "fresh" }));
    const names = (await r.target.connect().listCollections()).map((c) => c.name).sort();
    expect(names).toEqual(["fresh", "orders"]);
    expect(report.warnings[0]).toMatch(/read-only after cutover/);
  });
});

describe("snapshot reconciliation walks both sides in _id order", () => {
  test("changes scattered across scan batches, mixed _id types", async () => {
    const r = rig({ source: { topology: "standalone", version: "4.4.29" }, spec: { writeBlocking: "none" }, builtin: { batchBytes: 300 } });
    await seed(r.source, "a", "b", 2500);
    const { handle } = await syncUntilReady(r);
    const b = r.source.db("a").collection<AnyDoc>("b");
    for (const id of [0, 999, 1000, 2499]) await b.deleteOne({ _id: id });
    for (const id of [1001, 2000, 5]) await b.updateOne({ _id: id }, { $set: { n: `changed ${id}` } });
    await b.insertMany([{ _id: 1500.5 }, { _id: -1 }, { _id: 99_999 }, { _id: "string ids sort after numbers" }, { _id: new ObjectId() }]);
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    expectIdentical(await compare(r.source, r.target, { db: "a", coll: "b" }));
    expect(r.ctx.lines.join("\n")).toMatch(/reconciled: 8 documents re-copied, 4 removed/);
  });

  // Finding 3: with a default collation mongod scans string `_id`s in collation order ("a" < "B"), the walk
  // compared binary order ("B" < "a"), took "B" for a document deleted since the copy, and queued its delete
  // beside its re-copy in one unordered bulk, whose deletes run last: "B", present on both sides, was deleted.
  test("a collection with a default collation: documents present on both sides survive", async () => {
    const r = rig({ source: { topology: "standalone", version: "5.0.20" }, spec: { writeBlocking: "none" } });
    await r.source.db("app").createCollection("names", { collation: { locale: "en", strength: 2 } });
    const names = r.source.db("app").collection<AnyDoc>("names");
    await names.insertMany([{ _id: "B", v: 1 }, { _id: "c", v: 1 }, { _id: "D", v: 1 }]);
    const { handle } = await syncUntilReady(r);
    await names.insertOne({ _id: "a", v: 2 }); // appears before "B" in collation order, after it in binary order
    await names.deleteOne({ _id: "c" });
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    expectIdentical(await compare(r.source, r.target, { db: "app", coll: "names" }));
    expect((await exactDocs(r.target, { db: "app", coll: "names" })).map((d) => d._id)).toEqual(["a", "B", "D"]);
    expect(r.ctx.lines.join("\n")).toMatch(/reconciled: 1 documents re-copied, 1 removed/);
  });
});

describe("writeBlocking none", () => {
  test("waits for quietSeconds without source events before finishing", async () => {
    const r = rig({ spec: { writeBlocking: "none" }, builtin: { quietSeconds: 30 } });
    await seed(r.source, "a", "b", 20);
    const { handle } = await syncUntilReady(r);
    await r.source.db("a").collection<AnyDoc>("b").insertOne({ _id: 100 });
    const before = r.ctx.now();
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(r.ctx.now() - before).toBeGreaterThanOrEqual(30_000);
    expect(r.source.writesBlocked).toBe(false);
    expect(report.warnings[0]).toMatch(/not blocked/);
    expectIdentical(await compare(r.source, r.target, { db: "a", coll: "b" }));
  });

  test("a cutover that runs out of time throws DeadlineExceededError and resumes", async () => {
    const r = rig({ spec: { writeBlocking: "none" }, builtin: { quietSeconds: 120 } });
    await seed(r.source, "a", "b", 20);
    const { handle } = await syncUntilReady(r);
    r.ctx.deadline = r.ctx.now() + 60_000;
    await expect(r.engine.cutover(r.spec, handle, r.ctx)).rejects.toBeInstanceOf(DeadlineExceededError);
    expect((await r.engine.status(r.spec, handle, r.ctx)).phase).toBe("CUTTING_OVER");
    r.ctx.deadline = r.ctx.now() + 600_000;
    expect((await r.engine.cutover(r.spec, handle, r.ctx)).phase).toBe("COMPLETE");
  });
});

describe("verification", () => {
  test("a target document changed behind the engine's back fails verification, naming namespace and _id", async () => {
    const r = rig();
    await seed(r.source, "a", "b", 50);
    await seed(r.source, "a", "ok", 5);
    const { handle } = await syncUntilReady(r);
    await r.target.db("a").collection<AnyDoc>("b").updateOne({ _id: 7 }, { $set: { n: "tampered" } });
    await r.target.db("a").collection<AnyDoc>("b").insertOne({ _id: "stray" });
    const err = await r.engine.cutover(r.spec, handle, r.ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineFailedError);
    expect((err as Error).message).toContain("a.b");
    expect((err as Error).message).not.toContain("a.ok");
    expect((err as Error).message).toContain('{"$numberInt":"7"}');
    expect((err as Error).message).toContain('"stray"');
    const status = await r.engine.status(r.spec, handle, r.ctx);
    expect(status.phase).toBe("CUTTING_OVER");

    // Repair the target, run cutover again: it re-drains, re-verifies and completes.
    await r.target.db("a").collection<AnyDoc>("b").deleteOne({ _id: "stray" });
    await r.target.db("a").collection<AnyDoc>("b").updateOne({ _id: 7 }, { $set: { n: 7 } });
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
  });

  test("a change that shows up only after the drain is caught by re-draining before verification fails", async () => {
    // A user allowed to write through user write blocking (restore), standing in for a late-visible write. The
    // engine refuses to cut over while such a user exists unless it is acknowledged.
    const r = rig({ builtin: { acknowledgedBypassUsers: ["late@admin"] } });
    await seed(r.source, "a", "b", 20);
    r.source.addUser("late", "admin", [{ role: "restore", db: "admin" }]);
    const { handle } = await syncUntilReady(r);
    let verifications = 0;
    const engine = r.makeEngine({
      hooks: {
        beforeCutoverStep: async (step) => {
          if (step === "VERIFYING" && ++verifications === 1) {
            await r.source.as("late", "admin").db("a").collection<AnyDoc>("b").insertOne({ _id: "late" });
          }
        },
      },
    });
    const report = await engine.cutover(r.spec, handle, r.ctx);
    expect(verifications).toBe(2);
    expect(report.verification.passed).toBe(true);
    expect(report.warnings.join("\n")).toMatch(/write blocking does not stop source user\(s\) root@admin, late@admin/);
    expectIdentical(await compare(r.source, r.target, { db: "a", coll: "b" }));
  });

  test("counts mode compares counts only; none skips verification", async () => {
    const r = rig({ spec: { verification: "counts" } });
    await seed(r.source, "a", "b", 10);
    const { handle } = await syncUntilReady(r);
    await r.target.db("a").collection<AnyDoc>("b").updateOne({ _id: 1 }, { $set: { n: "different but same count" } });
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.mode).toBe("counts");
    expect(report.verification.passed).toBe(true);
    expect(report.verification.namespaces[0]).toMatchObject({ namespace: "a.b", sourceCount: 10, targetCount: 10 });
    expect(report.verification.namespaces[0].sourceHash).toBeUndefined();

    const r2 = rig({ spec: { verification: "none" } });
    await seed(r2.source, "a", "b", 3);
    const s2 = await syncUntilReady(r2);
    expect((await r2.engine.cutover(r2.spec, s2.handle, r2.ctx)).verification.summary).toMatch(/skipped/);
  });
});

describe("readOnlyUsers on a sharded source (finding 5)", () => {
  // Before: the drain ended ~2 s after updateUser while other mongos still let the application write for up to
  // userCacheInvalidationIntervalSecs (30 s by default): writes after the drain were lost, the source "blocked".
  test.each([30, 90])("cutover waits userCacheInvalidationIntervalSecs (%is) before draining; no write is lost", async (interval) => {
    const r = rig({
      source: { topology: "sharded", version: "5.0.20", userCacheInvalidationIntervalSecs: interval },
      spec: { writeBlocking: "readOnlyUsers" },
      builtin: { readOnlyUsers: ["app@admin"] },
    });
    r.source.addUser("app", "admin", [{ role: "readWrite", db: "shop" }]);
    await seed(r.source, "shop", "orders", 50);
    const { handle } = await syncUntilReady(r);
    const app = r.source.as("app", "admin").db("shop").collection<AnyDoc>("orders");
    let writes = 0;
    const engine = r.makeEngine({
      hooks: {
        // The application writes once through another mongos while the cutover drains.
        afterReplayBatch: async () => {
          if (writes++ === 0) await app.insertOne({ _id: 10_000 }).catch(() => undefined);
        },
      },
    });
    const started = r.ctx.now();
    const report = await engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    // Every write the source accepted is on the target, and the application is blocked now: a write it could
    // still make after COMPLETE would be lost.
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
    await expect(app.insertOne({ _id: 99_999 })).rejects.toThrow(/not authorized/);
    expect(r.ctx.now() - started).toBeGreaterThanOrEqual(interval * 1000); // on the test's virtual clock
    expect(r.ctx.lines.join("\n")).toMatch(new RegExp(`waiting ${interval + 1}s \\(userCacheInvalidationIntervalSecs ${interval}\\)`));
  });
});

describe("the source's TTL monitor deletes while verification reads (finding 13)", () => {
  // Before: every deletion between the drain and the hashes was a mismatch; with one document expiring before
  // each attempt, all three attempts failed and the cutover stopped with the source blocked.
  test("documents due to expire are left out of both sides; the cutover passes and says how many", async () => {
    const r = rig();
    const sessions = r.source.db("app").collection<AnyDoc>("sessions");
    await sessions.createIndex({ at: 1 }, { expireAfterSeconds: 3600 });
    await sessions.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i, at: new Date(r.ctx.now()) })));
    const { handle } = await syncUntilReady(r);
    const t = r.ctx.now();
    // Three sessions expiring 20, 40 and 60 seconds from now.
    await sessions.insertMany([1, 2, 3].map((k) => ({ _id: 100 + k, at: new Date(t - 3_600_000 + k * 20_000) })));
    let monitorDeleted = 0;
    const engine = r.makeEngine({
      hooks: {
        beforeCutoverStep: async (step) => {
          if (step !== "VERIFYING") return;
          r.ctx.advance(20_000);
          monitorDeleted += r.source.runTtlMonitor(); // write blocking does not stop it
        },
      },
    });
    const report = await engine.cutover(r.spec, handle, r.ctx);
    expect(monitorDeleted).toBe(1);
    expect(report.verification.passed).toBe(true);
    expect(report.verification.summary).toMatch(/2 source documents due to expire under TTL indexes within 15 minutes left out/);
    expect(report.verification.namespaces.find((n) => n.namespace === "app.sessions")).toMatchObject({ sourceCount: 10, targetCount: 10 });
  });

  test("a real difference in a TTL collection is still found", async () => {
    const r = rig();
    const sessions = r.source.db("app").collection<AnyDoc>("sessions");
    await sessions.createIndex({ at: 1 }, { expireAfterSeconds: 3600 });
    await sessions.insertMany(Array.from({ length: 5 }, (_, i) => ({ _id: i, at: new Date(r.ctx.now()) })));
    const { handle } = await syncUntilReady(r);
    await r.target.db("app").collection<AnyDoc>("sessions").updateOne({ _id: 2 }, { $set: { tampered: true } });
    await expect(r.engine.cutover(r.spec, handle, r.ctx)).rejects.toThrow(/verification failed: app\.sessions/);
  });
});
