// Tests written to kill the hand mutants of issue 8 that survived the suite (verification that compares counts
// only, hashes only `_id` or relaxed JSON; the first operation per key winning in replay; the completion marker
// written after the checkpoint is cleared; a rename out of scope keeping the old name; target-only collections
// left unverified). Each names the mutant it kills.
import { Int32, Long } from "mongodb";
import { MemoryCluster } from "../../../testing/memory-cluster";
import { verifyNamespaces } from "../../../provider/engines/builtin/verify";
import { newOwnerId, StateSession } from "../../../provider/engines/builtin/state";
import { runWorker } from "../../../provider/engines/builtin/worker";
import { LANES } from "../../../provider/engines/builtin/replay";
import { compare, exactDocs, expectIdentical, openPatchingTarget, rig, seed, syncUntilReady } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

const NS = { db: "shop", coll: "orders" };

describe("full verification sees content, not only counts and _ids", () => {
  async function pair(targetDocs: AnyDoc[]) {
    const source = new MemoryCluster();
    const target = new MemoryCluster();
    await source.db("shop").collection<AnyDoc>("orders").insertMany([{ _id: 1, qty: new Int32(5), note: "a" }, { _id: 2, qty: new Int32(7), note: "b" }]);
    await target.db("shop").collection<AnyDoc>("orders").insertMany(targetDocs);
    return verifyNamespaces(source, target, [NS], "full");
  }

  test("identical documents pass", async () => {
    expect((await pair([{ _id: 1, qty: new Int32(5), note: "a" }, { _id: 2, qty: new Int32(7), note: "b" }])).passed).toBe(true);
  });

  // Kills "counts only" and "hash only _id": same count, same _ids, one field differs.
  test("a changed field with the same count and _ids fails, naming the _id", async () => {
    const report = await pair([{ _id: 1, qty: new Int32(5), note: "a" }, { _id: 2, qty: new Int32(7), note: "CHANGED" }]);
    expect(report.passed).toBe(false);
    expect(report.namespaces[0]).toMatchObject({ sourceCount: 2, targetCount: 2, match: false, sampleMismatchedIds: ['{"$numberInt":"2"}'] });
  });

  // Kills "hash relaxed JSON": Int32(7) and Long(7) are the same relaxed JSON (7) but different BSON.
  test("a number whose BSON type changed (Int32 → Int64) fails", async () => {
    const report = await pair([{ _id: 1, qty: new Int32(5), note: "a" }, { _id: 2, qty: Long.fromNumber(7), note: "b" }]);
    expect(report.passed).toBe(false);
  });

  test("a reordered document fails (field order is content)", async () => {
    expect((await pair([{ _id: 1, note: "a", qty: new Int32(5) }, { _id: 2, qty: new Int32(7), note: "b" }])).passed).toBe(false);
  });
});

describe("replay: the newest operation per key wins within a batch", () => {
  // Kills "first operation per key wins": with updateLookup every update carries the current document, so only an
  // insert followed by a delete (or a delete followed by an insert) in one batch tells first from last.
  test("insert then delete, and delete then re-insert, of the same _id in one batch", async () => {
    const r = rig({ builtin: { replayBatchSize: 10_000 } });
    await seed(r.source, "shop", "orders", 10);
    const { handle } = await syncUntilReady(r);
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    await orders.insertOne({ _id: 100, short: "lived" });
    await orders.deleteOne({ _id: 100 });
    await orders.deleteOne({ _id: 3 });
    await orders.insertOne({ _id: 3, reborn: true });
    expect((await r.engine.advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    const ids = (await exactDocs(r.target, NS)).map((d) => d._id);
    expect(ids).not.toContainEqual(new Int32(100));
    expect((await exactDocs(r.target, NS)).find((d) => Number(d._id) === 3)).toEqual({ _id: new Int32(3), reborn: true });
    expectIdentical(await compare(r.source, r.target, NS));
  });
});

describe("FINALIZING writes the completion marker before clearing the checkpoint", () => {
  // Kills "clear, then marker": a failure of the marker write must leave the checkpoint, so the rerun completes.
  test("the marker write fails once: the rerun still completes and status says COMPLETE", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 20);
    const { handle } = await syncUntilReady(r);
    const engine = r.makeEngine({
      hooks: {
        beforeCutoverStep: async (step) => {
          if (step === "FINALIZING") r.target.faults.failNext("checkpoint.put", 1, () => Object.assign(new Error("marker write lost"), { code: 8000 }));
        },
      },
    });
    await expect(engine.cutover(r.spec, handle, r.ctx)).rejects.toThrow(/marker write lost/);
    const report = await r.makeEngine().cutover(r.spec, handle, r.ctx);
    expect(report.phase).toBe("COMPLETE");
    expect((await r.makeEngine().status(r.spec, handle, r.ctx)).phase).toBe("COMPLETE");
  });
});

describe("namespaces at the edge of the filter", () => {
  // Kills "a rename out of scope keeps the old name on the target".
  test("a rename out of the migrated namespaces drops the old name on the target", async () => {
    const r = rig({ spec: { namespaces: { include: ["app.*"], exclude: ["app.archive"] } } });
    await seed(r.source, "app", "live", 5);
    await seed(r.source, "app", "keep", 2);
    const { handle } = await syncUntilReady(r);
    await r.source.db("app").collection<AnyDoc>("live").rename("archive");
    expect((await r.engine.advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    expect((await r.target.connect().listCollections()).map((c) => c.name).sort()).toEqual(["keep"]);
  });

  // Kills "only source collections are verified": a collection only the target holds fails verification.
  test("a migrated-namespace collection that exists only on the target fails verification", async () => {
    const r = rig();
    await seed(r.source, "app", "live", 5);
    const { handle } = await syncUntilReady(r);
    await r.target.db("app").collection<AnyDoc>("stray").insertOne({ _id: 1 });
    await expect(r.engine.cutover(r.spec, handle, r.ctx)).rejects.toThrow(/verification failed: app\.stray \(source 0 docs, target 1/);
  });
});

describe("lease fencing before each replay write", () => {
  // Kills "no lease check before a replay flush": after a takeover the stale applier must stop writing. Each
  // apply's writes wait for its own lease check; the pipeline keeps at most two applies out, so one apply whose
  // check passed before the takeover may still follow the one being written (the cutover waits 5 s after a
  // takeover for exactly this), and nothing after it. A write counts as "after the takeover" when it is issued
  // once the thief holds the lease (the rest of the apply being written went out with its first write).
  test("once another process has taken the lease, the old applier writes at most the one apply already checked", async () => {
    const r = rig({ builtin: { replayBatchSize: 2 } });
    await seed(r.source, "shop", "orders", 50);
    const { handle } = await syncUntilReady(r);
    let stolen = false;
    let takenOver = false;
    let writesAfterTakeover = 0;
    const open = openPatchingTarget(r, (port) => {
      const bulkWrite = port.bulkWrite.bind(port);
      port.bulkWrite = async (ns, ops, ordered, options) => {
        if (ns.coll === "orders" && ordered) {
          if (takenOver) writesAfterTakeover++;
          else if (!stolen) {
            // A cutover elsewhere takes the lease over while this replay write is in flight.
            stolen = true;
            const thief = new StateSession(port.checkpoints(r.spec.migrationId), newOwnerId("thief"), r.ctx.now, 600_000);
            await thief.acquire(true);
            takenOver = true;
          }
        }
        return bulkWrite(ns, ops, ordered, options);
      };
    });
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    // 48 documents: six applies of LANES × replayBatchSize = 8 operations each, read in one batch.
    for (let i = 0; i < 48; i++) await orders.updateOne({ _id: i }, { $set: { v: i } });
    await r.makeEngine({ open }).advance(r.spec, handle, r.ctx);
    expect(stolen).toBe(true);
    expect(writesAfterTakeover).toBeLessThanOrEqual(LANES);
  });
});

describe("lease fencing on idle polls", () => {
  // Kills "no lease check on an idle poll": an idle worker whose lease was taken must notice at its next poll,
  // not at the end of its round (10 minutes here, on the test's virtual clock).
  test("an idle worker stops within seconds of a takeover", async () => {
    const r = rig();
    await seed(r.source, "a", "b", 5);
    const { handle } = await syncUntilReady(r);
    const worker = runWorker({
      migrationId: r.spec.migrationId,
      sourceUri: r.spec.source.uri!,
      targetUri: r.spec.target.uri!,
      open: async (uri) => MemoryCluster.resolve(uri).connect(),
      ctx: { log: () => undefined, now: r.ctx.now, sleep: r.ctx.sleep },
      roundMs: 600_000,
      maxLeaseWaits: 0,
    });
    // Let the worker take the lease and settle into idle polling.
    const startedAt = r.ctx.now();
    // Yield to timers as well as to the event loop (a change-stream poll may wait on a real timer), so how far the
    // virtual clock gets never depends on the machine's speed; bounded at ~30 s of real time.
    for (let i = 0; i < 30_000 && r.ctx.now() - startedAt < 5_000; i++) await new Promise((res) => setTimeout(res, 1));
    expect(r.ctx.now() - startedAt).toBeGreaterThanOrEqual(5_000); // the worker is polling
    const thief = new StateSession(r.target.connect().checkpoints(r.spec.migrationId), newOwnerId("thief"), r.ctx.now, 3_600_000);
    await thief.acquire(true);
    const takenAt = r.ctx.now();
    await expect(worker).resolves.toBe("stopped");
    expect(r.ctx.now() - takenAt).toBeLessThan(60_000);
    expect((await r.engine.status(r.spec, handle, r.ctx)).details?.leaseHolder).toContain("thief@");
  });
});
