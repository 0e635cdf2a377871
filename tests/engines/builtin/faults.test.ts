// Faults: for each one, documents lost = 0, duplicated = 0, and the target's content hash equals the source's.
// The figures asserted here (lost/duplicated/differing/extra) are what the engine note reports.
import { MemoryCluster, networkError, notWritablePrimaryError, shutdownInProgressError } from "../../../testing/memory-cluster";
import { EngineFailedError } from "../../../provider/errors";
import { resetMigration } from "../../../provider/engines/builtin/state";
import { compare, expectIdentical, rig, seed, syncUntilReady, type Rig } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

const ORDERS = { db: "shop", coll: "orders" };

async function seedOrders(r: Rig, n = 1200): Promise<void> {
  await seed(r.source, "shop", "orders", n, (i) => ({ _id: i, qty: i % 17, note: "x".repeat(50 + (i % 40)) }));
}

async function finish(r: Rig, handle: Awaited<ReturnType<typeof syncUntilReady>>["handle"]) {
  const report = await r.makeEngine().cutover(r.spec, handle, r.ctx);
  expect(report.verification.passed).toBe(true);
  const c = await compare(r.source, r.target, ORDERS);
  // BUILTIN_FAULT_FIGURES=1 prints the figures quoted in the engine's notes.
  if (process.env.BUILTIN_FAULT_FIGURES) {
    const { lost, duplicated, differing, extra, sourceCount, targetCount } = c;
    console.log(`${expect.getState().currentTestName}: ${JSON.stringify({ sourceCount, targetCount, lost, duplicated, differing, extra, hashesEqual: c.sourceHash === c.targetHash })}`);
  }
  expectIdentical(c);
  return c;
}

describe("faults during copy", () => {
  test("network errors mid-copy (scan and lost write acknowledgements) are retried without loss or duplicates", async () => {
    const r = rig({ builtin: { batchBytes: 4096, partitionDocuments: 300, parallelCollections: 3 } });
    await seedOrders(r);
    r.source.faults.failNext("scanBatch", 2, () => networkError(), { skip: 3 });
    r.target.faults.failNext("bulkWrite", 2, () => networkError(), { skip: 4, when: "after" });
    const t0 = r.ctx.now();
    const { handle, status } = await syncUntilReady(r);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(r.source.faults.injected("scanBatch")).toBe(2);
    expect(r.target.faults.injected("bulkWrite")).toBe(2);
    expect(r.ctx.now() - t0).toBeGreaterThanOrEqual(200); // backoff went through ctx.sleep
    await finish(r, handle);
  });

  test("primary step-down (NotWritablePrimary, ShutdownInProgress) during copy is retried", async () => {
    const r = rig({ builtin: { batchBytes: 4096 } });
    await seedOrders(r, 600);
    r.target.faults.failNext("bulkWrite", 3, notWritablePrimaryError, { skip: 2 });
    r.source.faults.failNext("scanBatch", 1, shutdownInProgressError, { skip: 5 });
    const { handle, status } = await syncUntilReady(r);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(r.target.faults.injected("bulkWrite")).toBe(3);
    await finish(r, handle);
  });

  test("a non-transient error surfaces instead of being retried forever", async () => {
    const r = rig();
    await seedOrders(r, 50);
    r.target.faults.failNext("bulkWrite", 1, () => new Error("disk full"));
    const handle = await r.engine.start(r.spec, r.ctx);
    await expect(r.engine.advance(r.spec, handle, r.ctx)).rejects.toThrow(/disk full/);
    // …and the next call resumes.
    const status = await r.makeEngine().advance(r.spec, handle, r.ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    await finish(r, handle);
  });
});

describe("faults during replay", () => {
  test("network error and step-down mid-replay: the stream is reopened from the checkpointed token", async () => {
    const r = rig({ builtin: { replayBatchSize: 7 } });
    await seedOrders(r, 300);
    const { handle } = await syncUntilReady(r);
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    for (let i = 0; i < 100; i++) {
      await orders.updateOne({ _id: i }, { $inc: { qty: 1 } });
      if (i % 10 === 0) await orders.deleteOne({ _id: 200 + i });
      await orders.insertOne({ _id: 10_000 + i, qty: -i });
    }
    r.source.faults.failNext("nextBatch", 1, () => networkError());
    r.source.faults.failNext("watch", 1, notWritablePrimaryError);
    r.target.faults.failNext("bulkWrite", 2, () => networkError(), { skip: 3, when: "after" });
    const status = await r.engine.advance(r.spec, handle, r.ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(r.source.faults.injected("nextBatch")).toBe(1);
    expect(r.source.faults.injected("watch")).toBe(1);
    expectIdentical(await compare(r.source, r.target, ORDERS)); // caught up before cutover too
    await finish(r, handle);
  });

  test("a crash mid-replay (after applying, before saving the token): the rerun replays from the saved token", async () => {
    const r = rig({ builtin: { replayBatchSize: 10 } });
    await seedOrders(r, 100);
    const { handle } = await syncUntilReady(r);
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    for (let i = 0; i < 60; i++) await orders.updateOne({ _id: i }, { $set: { qty: -i } });
    for (let i = 60; i < 70; i++) await orders.deleteOne({ _id: i });
    r.target.faults.failNext("checkpoint.compareAndSet", 1, () => new Error("process killed"), { skip: 1 });
    await expect(r.engine.advance(r.spec, handle, r.ctx)).rejects.toThrow(/process killed/);
    expect((await r.makeEngine().advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    await finish(r, handle);
  });

  test("history lost (oplog rolled over) ⇒ FAILED with the restart command; restarting works", async () => {
    const r = rig();
    await seedOrders(r, 200);
    const handle = await r.engine.start(r.spec, r.ctx);
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    for (let i = 0; i < 20; i++) await orders.updateOne({ _id: i }, { $set: { qty: 1000 + i } });
    // Like a real oplog, the newest entry stays; everything the stream still needed from T0 on is gone.
    r.source.truncateChangeLog({ keepLast: 1 });
    const status = await r.engine.advance(r.spec, handle, r.ctx);
    expect(status.phase).toBe("FAILED");
    expect(status.reason).toContain(`atlas-migrate reset ${r.spec.migrationId}`);
    expect(status.reason).toMatch(/oplog/);
    await expect(r.engine.cutover(r.spec, handle, r.ctx)).rejects.toBeInstanceOf(EngineFailedError);

    // start() on a FAILED migration starts over from a fresh T0.
    const again = await syncUntilReady(r);
    expect(again.status.phase).toBe("READY_FOR_CUTOVER");
    await finish(r, again.handle);
  });

  test("history lost, then the documented restart: `atlas-migrate reset` and the next advance starts over", async () => {
    const r = rig();
    await seedOrders(r, 150);
    const handle = await r.engine.start(r.spec, r.ctx);
    for (let i = 0; i < 10; i++) await r.source.db("shop").collection<AnyDoc>("orders").updateOne({ _id: i }, { $set: { qty: 500 } });
    r.source.truncateChangeLog({ keepLast: 1 });
    expect((await r.engine.advance(r.spec, handle, r.ctx)).phase).toBe("FAILED");
    expect(await resetMigration(r.target.connect(), r.spec.migrationId, r.ctx.now)).toEqual({ removed: true });
    // The provider still has its handle and calls advance, as the next `pulumi up` would.
    const status = await r.makeEngine().advance(r.spec, handle, r.ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    await finish(r, handle);
  });
});

describe("crash during cutover, then rerun", () => {
  for (const step of ["BLOCKING", "DRAINING", "INDEXES", "VERIFYING", "FINALIZING"]) {
    test(`crash as ${step} starts; the rerun completes`, async () => {
      const r = rig();
      await seedOrders(r, 300);
      await r.source.db("shop").collection<AnyDoc>("orders").createIndex({ qty: 1 }, { unique: false });
      const { handle } = await syncUntilReady(r);
      await r.source.db("shop").collection<AnyDoc>("orders").insertOne({ _id: "late", qty: 1 });
      const crashing = r.makeEngine({
        hooks: {
          beforeCutoverStep: (s) => {
            if (s === step) throw new Error(`simulated crash at ${s}`);
          },
        },
      });
      await expect(crashing.cutover(r.spec, handle, r.ctx)).rejects.toThrow(/simulated crash/);
      expect((await r.engine.status(r.spec, handle, r.ctx)).phase).toBe("CUTTING_OVER");
      await finish(r, handle);
    });
  }

  test("crash while the checkpoint is being cleared after COMPLETE: the rerun returns the stored report", async () => {
    const r = rig();
    await seedOrders(r, 100);
    const { handle } = await syncUntilReady(r);
    r.target.faults.failNext("checkpoint.clear", 1, () => new Error("process killed"));
    await expect(r.engine.cutover(r.spec, handle, r.ctx)).rejects.toThrow(/process killed/);
    const report = await r.makeEngine().cutover(r.spec, handle, r.ctx);
    expect(report.phase).toBe("COMPLETE");
    expect(report.verification.passed).toBe(true);
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });

  test("readOnlyUsers: roles saved before the change survive a crash and the rerun", async () => {
    const r = rig({ spec: { writeBlocking: "readOnlyUsers" }, builtin: { readOnlyUsers: ["app@admin"] } });
    r.source.addUser("app", "admin", [{ role: "readWrite", db: "shop" }]);
    await seedOrders(r, 50);
    const { handle } = await syncUntilReady(r);
    const crashing = r.makeEngine({
      hooks: {
        beforeCutoverStep: (s) => {
          if (s === "DRAINING") throw new Error("simulated crash after blocking");
        },
      },
    });
    await expect(crashing.cutover(r.spec, handle, r.ctx)).rejects.toThrow(/simulated crash/);
    const app = r.source.as("app", "admin");
    await expect(app.db("shop").collection<AnyDoc>("orders").insertOne({ _id: "blocked" })).rejects.toThrow();
    const report = await r.makeEngine().cutover(r.spec, handle, r.ctx);
    expect(report.warnings[0]).toContain('app@admin → [{"role":"readWrite","db":"shop"}]');
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });
});

describe("steady concurrent writes", () => {
  test("writes between copy batches and between replay batches: nothing lost or duplicated", async () => {
    let k = 0;
    const writes = { inserts: 0, updates: 0, deletes: 0 };
    let source: MemoryCluster | undefined;
    const writeSome = async (): Promise<void> => {
      const orders = source!.db("shop").collection<AnyDoc>("orders");
      for (let j = 0; j < 5; j++) {
        k++;
        await orders.insertOne({ _id: 100_000 + k, qty: k });
        writes.inserts++;
        await orders.updateOne({ _id: (k * 37) % 1500 }, { $set: { touched: k }, $inc: { qty: 1 } }, { upsert: true });
        writes.updates++;
        if (k % 3 === 0) {
          const { deletedCount } = await orders.deleteOne({ _id: (k * 53) % 1500 });
          writes.deletes += deletedCount; // read after the await: two writers run at once
        }
      }
    };
    let replayBatches = 0;
    const r = rig({
      builtin: { batchBytes: 6000, partitionDocuments: 400, parallelCollections: 2, replayBatchSize: 25 },
      engine: {
        hooks: {
          afterCopyBatch: writeSome,
          afterReplayBatch: async () => {
            if (++replayBatches <= 30 && !source!.writesBlocked) await writeSome();
          },
        },
      },
    });
    source = r.source;
    await seedOrders(r, 1500);
    const { handle, status } = await syncUntilReady(r);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(writes.inserts).toBeGreaterThan(100);
    // A concurrent writer loop while the next advance replays.
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        await writeSome();
        await new Promise((res) => setImmediate(res));
      }
    })();
    await r.makeEngine().advance(r.spec, handle, r.ctx);
    stop = true;
    await loop;
    const c = await finish(r, handle);
    // Updates upsert, so a deleted id may come back: count what the source really holds vs what the target got.
    expect(c.sourceCount).toBeGreaterThanOrEqual(1500 + writes.inserts - writes.deletes);
    expect(writes.deletes).toBeGreaterThan(10);
  });
});
