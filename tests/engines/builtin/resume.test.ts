// Resuming: partition checkpoints (how many documents are copied twice after a stop or a crash), deadlines
// (advance returns, never throws), the lease (one applier at a time; cutover takes it over), cancel.
import { MemoryCluster } from "../../../testing/memory-cluster";
import type { ClusterPort } from "../../../provider/cluster/port";
import { newOwnerId, StateSession } from "../../../provider/engines/builtin/state";
import { runWorker } from "../../../provider/engines/builtin/worker";
import { compare, expectIdentical, rig, seed, syncUntilReady, type Rig } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

const ORDERS = { db: "shop", coll: "orders" };
const DOCS = 2000;

/**
 * Counts the copier's document writes to shop.orders on the target (copies + re-copies). The copier's bulk
 * writes are unordered and replay's are ordered: replay re-applies the event at T0 itself (start is
 * inclusive), which is not a re-copy.
 */
function countingOpen(targetUri: string, counter: { writes: number }) {
  return async (uri: string): Promise<ClusterPort> => {
    const port = MemoryCluster.resolve(uri).connect();
    if (uri !== targetUri) return port;
    const bulkWrite = port.bulkWrite.bind(port);
    port.bulkWrite = async (ns, ops, ordered) => {
      if (ns.db === "shop" && ns.coll === "orders" && !ordered) counter.writes += ops.length;
      return bulkWrite(ns, ops, ordered);
    };
    return port;
  };
}

function partitionedRig(counter: { writes: number }): Rig {
  const r = rig({ builtin: { batchBytes: 2000, partitionDocuments: 300, parallelCollections: 4 } });
  const open = countingOpen(r.spec.target.uri!, counter);
  const makeEngine = r.makeEngine;
  r.makeEngine = (o = {}) => makeEngine({ open, ...o });
  r.engine = r.makeEngine();
  return r;
}

async function seedOrders(r: Rig): Promise<void> {
  await seed(r.source, "shop", "orders", DOCS, (i) => ({ _id: i, pad: "p".repeat(80) }));
}

describe("partition checkpoints", () => {
  test("a copy stopped by the deadline continues where it stopped: nothing is copied twice", async () => {
    let batches = 0;
    const counter = { writes: 0 };
    const r = partitionedRig(counter);
    await seedOrders(r);
    const stopper = r.makeEngine({
      hooks: {
        afterCopyBatch: () => {
          if (++batches === 12) r.ctx.advance(24 * 3600 * 1000); // the deadline passes mid-copy
        },
      },
    });
    const handle = await stopper.start(r.spec, r.ctx);
    const first = await stopper.advance(r.spec, handle, r.ctx); // returns, does not throw
    expect(first.phase).toBe("COPYING");
    expect(first.copiedDocuments).toBeGreaterThan(0);
    expect(first.copiedDocuments).toBeLessThan(DOCS);
    expect(first.totalDocuments).toBe(DOCS);

    r.ctx.deadline = r.ctx.now() + 600_000;
    const second = await r.engine.advance(r.spec, handle, r.ctx);
    expect(second.phase).toBe("READY_FOR_CUTOVER");
    expect(counter.writes - DOCS).toBe(0); // re-copied documents
    await r.engine.cutover(r.spec, handle, r.ctx);
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });

  test("a crash between a batch and its checkpoint re-copies at most that batch", async () => {
    const counter = { writes: 0 };
    const r = partitionedRig(counter);
    await seedOrders(r);
    const handle = await r.engine.start(r.spec, r.ctx);
    r.target.faults.failNext("checkpoint.put", 1, () => new Error("process killed"), { skip: 15 });
    await expect(r.engine.advance(r.spec, handle, r.ctx)).rejects.toThrow(/process killed/);
    const status = await r.makeEngine().advance(r.spec, handle, r.ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    const recopied = counter.writes - DOCS;
    const docsPerBatch = Math.ceil(2000 / 100); // batchBytes / ~100-byte documents
    expect(recopied).toBeGreaterThan(0);
    expect(recopied).toBeLessThanOrEqual(docsPerBatch);
    await r.engine.cutover(r.spec, handle, r.ctx);
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });
});

describe("lease", () => {
  test("advance does not apply while another live process holds the lease; cutover takes it over", async () => {
    const r = rig({ deadlineMs: 60_000 });
    await seed(r.source, "a", "b", 50);
    const handle = await r.engine.start(r.spec, r.ctx);
    const other = new StateSession(r.target.connect().checkpoints(r.spec.migrationId), newOwnerId("other"), r.ctx.now, 10 * 60_000);
    await other.load();
    expect(await other.acquire()).toBe(true);

    const status = await r.engine.advance(r.spec, handle, r.ctx);
    expect(status.copiedDocuments).toBe(0);
    expect(status.details?.leaseHolder).toContain("other@");
    expect(r.ctx.lines.join("\n")).toMatch(/another process holds the sync lease/);
    expect((await r.target.connect().listCollections()).length).toBe(0); // nothing written

    r.ctx.deadline = r.ctx.now() + 600_000;
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    await expect(other.assertLease()).rejects.toThrow(/lease/);
  });

  test("two advances at once: exactly one copies, the other follows", async () => {
    const counter = { writes: 0 };
    const r = rig({ builtin: { batchBytes: 2000 } });
    const open = countingOpen(r.spec.target.uri!, counter);
    await seed(r.source, "shop", "orders", 600, (i) => ({ _id: i, pad: "p".repeat(80) }));
    const handle = await r.engine.start(r.spec, r.ctx);
    const [a, b] = await Promise.all([r.makeEngine({ open }).advance(r.spec, handle, r.ctx), r.makeEngine({ open }).advance(r.spec, handle, r.ctx)]);
    expect([a.phase, b.phase]).toEqual(["READY_FOR_CUTOVER", "READY_FOR_CUTOVER"]);
    expect(counter.writes).toBe(600); // no document copied twice
    expect(r.ctx.lines.filter((l) => /another process holds the sync lease/.test(l)).length).toBeGreaterThan(0);
    await r.engine.cutover(r.spec, handle, r.ctx);
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });

  test("an expired lease is taken by the next advance", async () => {
    const r = rig();
    await seed(r.source, "a", "b", 20);
    const handle = await r.engine.start(r.spec, r.ctx);
    const crashed = new StateSession(r.target.connect().checkpoints(r.spec.migrationId), newOwnerId("crashed"), r.ctx.now, 30_000);
    await crashed.acquire();
    const status = await r.engine.advance(r.spec, handle, r.ctx); // waits (virtual) until the lease expires
    expect(status.phase).toBe("READY_FOR_CUTOVER");
  });

  test("the atlas-migrate worker syncs continuously and stops when cutover takes the lease", async () => {
    const r = rig();
    await seed(r.source, "a", "b", 200);
    const handle = await r.engine.start(r.spec, r.ctx);
    const lines: string[] = [];
    const worker = runWorker({
      migrationId: r.spec.migrationId,
      sourceUri: r.spec.source.uri!,
      targetUri: r.spec.target.uri!,
      open: async (uri) => MemoryCluster.resolve(uri).connect(),
      ctx: { log: (l) => lines.push(l), now: r.ctx.now, sleep: r.ctx.sleep },
      roundMs: 5_000,
    });
    // Wait until the worker has copied everything and is replaying.
    for (let i = 0; i < 2000; i++) {
      if ((await r.engine.status(r.spec, handle, r.ctx)).phase === "READY_FOR_CUTOVER") break;
      await new Promise((res) => setImmediate(res));
    }
    await r.source.db("a").collection<AnyDoc>("b").insertOne({ _id: 999, by: "app" });
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    await expect(worker).resolves.toMatch(/cutover|complete/);
    expectIdentical(await compare(r.source, r.target, { db: "a", coll: "b" }));
  });
});

describe("cancel", () => {
  test("cancel stops the sync, keeps the target data, and a new start resumes", async () => {
    const r = rig();
    await seed(r.source, "a", "b", 30);
    const { handle } = await syncUntilReady(r);
    const result = await r.engine.cancel(r.spec, handle, r.ctx);
    expect(result.warnings.join(" ")).toMatch(/left in place/);
    expect((await r.target.db("a").collection<AnyDoc>("b").countDocuments())).toBe(30);
    const again = await r.engine.start(r.spec, r.ctx);
    expect(again.startedAt).toBe(handle.startedAt);
    await r.source.db("a").collection<AnyDoc>("b").insertOne({ _id: 31 });
    expect((await r.engine.advance(r.spec, again, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    expect((await r.target.db("a").collection<AnyDoc>("b").countDocuments())).toBe(31);
  });
});
