// Tests for the replay mutants scripts/mutate.js found alive (issue 8, mutation testing): R4 "NamespaceNotFound is
// not tolerated", R6 "a document deleted since its update is not deleted" and R8 "drained after a single empty
// poll". Each names the mutant it kills.
import { MemoryCluster } from "../../../testing/memory-cluster";
import { compare, exactDocs, expectIdentical, rig, seed, syncUntilReady } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

describe("DDL whose effect is already on the target", () => {
  // Kills R4: a collection created and renamed on the source before anything of it reached the target. The create is
  // mirrored from the source's listing (which no longer holds the old name), so the rename finds no collection on
  // the target (renameCollection: NamespaceNotFound, 26): tolerated, the new name is read from the source instead.
  test("a rename of a collection the target never had: the sync carries on and the new name arrives whole", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 3);
    const { handle } = await syncUntilReady(r);
    await r.source.createCollection({ db: "shop", name: "staging", kind: "collection", options: {}, indexes: [] });
    await r.source.renameCollection({ db: "shop", coll: "staging" }, { db: "shop", coll: "final" }, false);
    await r.source.db("shop").collection<AnyDoc>("final").insertMany([{ _id: 1 }, { _id: 2 }]);
    const status = await r.engine.advance(r.spec, handle, r.ctx);
    expect([status.phase, status.reason]).toEqual(["READY_FOR_CUTOVER", undefined]);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "final" }));
  });
});

describe("an update whose document is gone by the time it is looked up", () => {
  // Kills R6: updateLookup finds nothing (fullDocument null) when the document was deleted after the update; the
  // update then deletes it on the target at once. The later delete event would converge too, so the check is the
  // target right after the update's batch (one event per batch): it must not keep a version the source no longer has.
  test("is applied as a delete, before the delete event itself arrives", async () => {
    const seen: Array<number[]> = [];
    const r = rig({ source: { maxEventsPerBatch: 1 } });
    await seed(r.source, "shop", "orders", 3);
    const { handle } = await syncUntilReady(r);
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    await orders.updateOne({ _id: 1 }, { $set: { paid: true } });
    await orders.deleteOne({ _id: 1 });
    const engine = r.makeEngine({
      hooks: {
        afterReplayBatch: async ({ events }) => {
          if (events > 0) seen.push((await exactDocs(r.target, { db: "shop", coll: "orders" })).map((d) => Number(d._id)));
        },
      },
    });
    expect((await engine.advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    expect(seen[0]).toEqual([0, 2]); // after the update event alone
    expect(seen[seen.length - 1]).toEqual([0, 2]);
  });
});

describe("the cutover drain and writes not yet majority-committed", () => {
  // Kills R8: a write acknowledged just before blocking (w:1) reaches the change stream only once the majority
  // commit point passes it (MemoryCluster.setMajorityCommitLag: one getMore later here), so one empty poll does not
  // mean drained. A drain that stopped there would find the difference only at verification and re-drain, with
  // the source blocked the longer; the drain itself must wait for its second poll.
  test("a write still behind the commit point at the first empty poll is drained before verification", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 5);
    const { handle } = await syncUntilReady(r);
    const engine = r.makeEngine({
      hooks: {
        beforeCutoverStep: async (step) => {
          if (step !== "DRAINING") return;
          r.source.setMajorityCommitLag(1);
          // As root (the test's default connection bypasses write blocking): acknowledged, not yet in the stream.
          await r.source.db("shop").collection<AnyDoc>("orders").updateOne({ _id: 1 }, { $set: { late: true } });
          r.source.setMajorityCommitLag(0);
        },
      },
    });
    const report = await engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    expect(r.ctx.lines.filter((l) => /verification found differences/.test(l))).toEqual([]);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });
});

describe("MemoryCluster's majority commit point (ChangeLog.setMajorityCommitLag)", () => {
  test("a write under a lag of one getMore is read at once, but shown by the change stream only a getMore later", async () => {
    const c = MemoryCluster.create("majority-lag");
    const port = c.connect();
    const cursor = await port.watch({ startAtOperationTime: (await port.clusterTime())! });
    c.setMajorityCommitLag(1);
    await c.db("shop").collection<AnyDoc>("orders").insertOne({ _id: 1 });
    expect(Number((await port.findById({ db: "shop", coll: "orders" }, 1))?._id)).toBe(1);
    expect(await cursor.nextBatch(0)).toEqual([]);
    // The implicit create (an expanded event) and the insert, together once the commit point has passed them.
    const shown = await cursor.nextBatch(0);
    expect(shown.map((e) => e.operationType)).toEqual(["create", "insert"]);
    expect(Number((shown[1].documentKey as AnyDoc)._id)).toBe(1);
    await cursor.close();
  });
});
