// The copy pipeline (copy.ts): one process-wide byte budget, reads overlapping writes, inserts on a first pass
// (upserts when the target may already hold the range), batch sizes from the port's raw BSON sizes, and
// RTT-bound collections split at plan. Nothing here times anything: concurrency is observed by counting what
// is in flight while a write is held open for a few event-loop turns (as a network would), on the virtual clock.
import { BSON, type Document } from "mongodb";
import { MemoryCluster } from "../../../testing/memory-cluster";
import type { ClusterPort, ScanBatch, WriteOperation } from "../../../provider/cluster/port";
import { newOwnerId, StateSession } from "../../../provider/engines/builtin/state";
import { compare, expectIdentical, rig, seed, syncUntilReady, type AnyDoc, type Rig } from "./helpers";

afterEach(() => MemoryCluster.reset());

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

interface Observed {
  /** Document bytes handed out by source scans and not yet acknowledged by a target write. */
  held: number;
  peakHeld: number;
  writesInFlight: number;
  peakWritesInFlight: number;
  /** Scan batches requested while at least one copy write was in flight. */
  readsDuringWrites: number;
  ops: { insertOne: number; replaceOne: number; updateOne: number; deleteOne: number };
  /** Scan passes of `db` (but one-document reads) begun and not ended (done, or given back): partitions read at once. */
  scansOpen: number;
  peakScansOpen: number;
  docsPerWrite: number[];
}

function carried(op: WriteOperation): Document | undefined {
  if ("insertOne" in op) return op.insertOne.document;
  if ("replaceOne" in op) return op.replaceOne.replacement;
  return undefined;
}

/**
 * Ports over the rig's MemoryClusters that watch the copy: source scans and target writes of `db`. Writes stay
 * in flight for `writeTurns` event-loop turns; `claimSizeFactor` makes the source report each document's size
 * that many times larger (to see whose sizes the copier batches by); `statsTurnMs` advances the virtual clock
 * during collectionStats (a slow link's round trip as the engine's clock sees it).
 */
function watchingOpen(
  r: Rig,
  db: string,
  o: {
    /** The source says which documents of each batch may hold BSON undefined (ScanBatch.undefinedSuspects). */
    suspects?: (batch: ScanBatch) => number[];
    writeTurns?: number;
    claimSizeFactor?: number;
    statsTurnMs?: number;
    /** Advances the virtual clock by this much in listCollections and collectionStats: a slow link throughout. */
    linkMs?: number;
    afterScanBatch?: (batch: ScanBatch) => Promise<void>;
  } = {},
) {
  const seen: Observed = {
    held: 0,
    peakHeld: 0,
    writesInFlight: 0,
    peakWritesInFlight: 0,
    readsDuringWrites: 0,
    ops: { insertOne: 0, replaceOne: 0, updateOne: 0, deleteOne: 0 },
    scansOpen: 0,
    peakScansOpen: 0,
    docsPerWrite: [],
  };
  const sizes = new WeakMap<object, number>();
  const open = async (uri: string): Promise<ClusterPort> => {
    const port = MemoryCluster.resolve(uri).connect();
    if (uri === r.spec.source.uri) {
      const scan = port.scan.bind(port);
      port.scan = (ns, range, batchSize) => ({
        [Symbol.asyncIterator]: () => {
          const it = scan(ns, range, batchSize)[Symbol.asyncIterator]();
          let open = false;
          const end = () => {
            if (open) seen.scansOpen--;
            open = false;
          };
          return {
            return: async () => {
              end();
              return it.return ? it.return() : { done: true, value: undefined };
            },
            next: async () => {
              if (ns.db === db && seen.writesInFlight > 0) seen.readsDuringWrites++;
              // The one-document reads of partitions' bounds are not partitions being read.
              if (ns.db === db && !open && batchSize > 1) {
                open = true;
                seen.peakScansOpen = Math.max(seen.peakScansOpen, ++seen.scansOpen);
              }
              const next = await it.next();
              if (next.done) end();
              if (!next.done && ns.db === db) {
                const batch: ScanBatch = next.value;
                for (const d of batch) {
                  const n = BSON.calculateObjectSize(d); // the double may measure; the engine should not need to
                  sizes.set(d, n);
                  seen.held += n;
                }
                seen.peakHeld = Math.max(seen.peakHeld, seen.held);
                if (o.claimSizeFactor) batch.bsonSizes = batch.map((d) => (sizes.get(d) as number) * (o.claimSizeFactor as number));
                if (o.suspects) batch.undefinedSuspects = o.suspects(batch);
                await o.afterScanBatch?.(batch);
              }
              return next;
            },
          };
        },
      });
      const stats = port.collectionStats.bind(port);
      port.collectionStats = async (ns) => {
        if (o.statsTurnMs || o.linkMs) r.ctx.advance((o.statsTurnMs ?? 0) + (o.linkMs ?? 0));
        return stats(ns);
      };
      const list = port.listCollections.bind(port);
      port.listCollections = async () => {
        if (o.linkMs) r.ctx.advance(o.linkMs);
        return list();
      };
    }
    if (uri === r.spec.target.uri) {
      const bulkWrite = port.bulkWrite.bind(port);
      port.bulkWrite = async (ns, ops, ordered, options) => {
        if (ns.db !== db || ordered) return bulkWrite(ns, ops, ordered, options);
        seen.writesInFlight++;
        seen.peakWritesInFlight = Math.max(seen.peakWritesInFlight, seen.writesInFlight);
        seen.docsPerWrite.push(ops.length);
        for (const op of ops) seen.ops[Object.keys(op)[0] as keyof Observed["ops"]]++;
        try {
          await turns(o.writeTurns ?? 0);
          return await bulkWrite(ns, ops, ordered, options);
        } finally {
          seen.writesInFlight--;
          for (const op of ops) {
            const d = carried(op);
            const n = d ? sizes.get(d) : undefined;
            if (d && n !== undefined) {
              sizes.delete(d);
              seen.held -= n;
            }
          }
        }
      };
    }
    return port;
  };
  return { seen, open };
}

const doc = (i: number) => ({ _id: i, n: i, pad: "p".repeat(80) });

describe("copy pipeline", () => {
  test("what the copier holds, across all partitions at once, stays within batchBytes", async () => {
    const r = rig({ builtin: { batchBytes: 16 * 1024, partitionDocuments: 100, parallelCollections: 4 } });
    for (const c of ["a", "b", "c", "d"]) await seed(r.source, "shop", c, 400, (i) => ({ _id: i, pad: "q".repeat(900) }));
    const { seen, open } = watchingOpen(r, "shop", { writeTurns: 3 });
    const { status } = await syncUntilReady(r, r.makeEngine({ open }));
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(seen.peakHeld).toBeGreaterThan(0);
    expect(seen.peakHeld).toBeLessThanOrEqual(16 * 1024);
    for (const c of ["a", "b", "c", "d"]) expectIdentical(await compare(r.source, r.target, { db: "shop", coll: c }));
  });

  test("one partition reads its next batch while earlier writes are in flight, with several writes at once", async () => {
    const r = rig({ builtin: { batchBytes: 64 * 1024, parallelCollections: 4 } });
    await seed(r.source, "shop", "orders", 2000, doc);
    const { seen, open } = watchingOpen(r, "shop", { writeTurns: 5 });
    const { status } = await syncUntilReady(r, r.makeEngine({ open }));
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(seen.readsDuringWrites).toBeGreaterThan(0);
    expect(seen.peakWritesInFlight).toBeGreaterThan(1); // one collection, one partition
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });

  test("a first pass inserts (no upsert per document)", async () => {
    const r = rig({ builtin: { batchBytes: 64 * 1024 } });
    await seed(r.source, "shop", "orders", 1500, doc);
    const { seen, open } = watchingOpen(r, "shop");
    await syncUntilReady(r, r.makeEngine({ open }));
    expect(seen.ops).toEqual({ insertOne: 1500, replaceOne: 0, updateOne: 0, deleteOne: 0 });
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });

  test("a document already in the range on the target (an earlier attempt) turns the partition to upserts", async () => {
    const r = rig({ builtin: { batchBytes: 64 * 1024 } });
    await seed(r.source, "shop", "orders", 1500, doc);
    await r.target.db("shop").collection<AnyDoc>("orders").insertOne({ _id: 700, stale: true });
    const { seen, open } = watchingOpen(r, "shop");
    const { status } = await syncUntilReady(r, r.makeEngine({ open }));
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(seen.ops.replaceOne).toBeGreaterThan(0);
    expect(r.ctx.lines.join("\n")).toMatch(/already holds some of these _ids/);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });

  test("after a crash the resumed partition upserts (the target may hold writes past the checkpoint)", async () => {
    const r = rig({ builtin: { batchBytes: 8 * 1024 } });
    await seed(r.source, "shop", "orders", 1500, doc);
    const crashing = watchingOpen(r, "shop", { writeTurns: 2 });
    const handle = await r.engine.start(r.spec, r.ctx);
    r.target.faults.failNext("checkpoint.put", 1, () => new Error("process killed"), { skip: 10 });
    await expect(r.makeEngine({ open: crashing.open }).advance(r.spec, handle, r.ctx)).rejects.toThrow(/process killed/);
    const rerun = watchingOpen(r, "shop");
    const status = await r.makeEngine({ open: rerun.open }).advance(r.spec, handle, r.ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(rerun.seen.ops.insertOne).toBe(0);
    expect(rerun.seen.ops.replaceOne).toBeGreaterThan(0);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });

  test("a graceful stop leaves the range clean: the next pass still inserts, nothing is written twice", async () => {
    const r = rig({ builtin: { batchBytes: 8 * 1024 } });
    await seed(r.source, "shop", "orders", 1500, doc);
    let batches = 0;
    const first = watchingOpen(r, "shop", { writeTurns: 2 });
    const stopper = r.makeEngine({
      open: first.open,
      hooks: { afterCopyBatch: () => void (++batches === 5 && r.ctx.advance(24 * 3600 * 1000)) },
    });
    const handle = await stopper.start(r.spec, r.ctx);
    expect((await stopper.advance(r.spec, handle, r.ctx)).phase).toBe("COPYING");
    r.ctx.deadline = r.ctx.now() + 600_000;
    const second = watchingOpen(r, "shop");
    expect((await r.makeEngine({ open: second.open }).advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    expect(first.seen.ops.insertOne + second.seen.ops.insertOne).toBe(1500);
    expect(first.seen.ops.replaceOne + second.seen.ops.replaceOne).toBe(0);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });

  test("batches are sized by the sizes the port reports (raw BSON), not by measuring each document again", async () => {
    const r = rig({ builtin: { batchBytes: 64 * 1024, parallelCollections: 4 } });
    await seed(r.source, "shop", "orders", 600, doc);
    const honest = watchingOpen(r, "shop");
    await syncUntilReady(r, r.makeEngine({ open: honest.open }));

    const r2 = rig({ builtin: { batchBytes: 64 * 1024, parallelCollections: 4 } });
    await seed(r2.source, "shop", "orders", 600, doc);
    const inflated = watchingOpen(r2, "shop", { claimSizeFactor: 10 });
    await syncUntilReady(r2, r2.makeEngine({ open: inflated.open }));
    // Documents claimed 10x larger go 10x fewer to a write.
    expect(Math.max(...inflated.seen.docsPerWrite) * 5).toBeLessThanOrEqual(Math.max(...honest.seen.docsPerWrite));
    expectIdentical(await compare(r2.source, r2.target, { db: "shop", coll: "orders" }));
  });

  test("over a slow link a collection below partitionDocuments is split into parallel partitions", async () => {
    const planOf = async (r: Rig) => {
      const session = new StateSession(r.target.connect().checkpoints(r.spec.migrationId), newOwnerId("look"), r.ctx.now);
      return (await session.load())?.copy.collections.find((c) => c.coll === "orders")?.partitions;
    };
    const slow = rig({ builtin: { batchBytes: 64 * 1024, parallelCollections: 4 } });
    await seed(slow.source, "shop", "orders", 4000, doc); // ~420 KB: enough writes for parallelCollections parts
    const s = watchingOpen(slow, "shop", { statsTurnMs: 20 });
    expect((await syncUntilReady(slow, slow.makeEngine({ open: s.open }))).status.phase).toBe("READY_FOR_CUTOVER");
    expect(await planOf(slow)).toBe(4);
    expectIdentical(await compare(slow.source, slow.target, { db: "shop", coll: "orders" }));

    const fast = rig({ builtin: { batchBytes: 64 * 1024, parallelCollections: 4 } });
    await seed(fast.source, "shop", "orders", 4000, doc);
    const f = watchingOpen(fast, "shop");
    await syncUntilReady(fast, fast.makeEngine({ open: f.open }));
    expect(await planOf(fast)).toBe(1);
  });

  // The plan reads the last `_id` alongside the collection's size, so the split points (asked after the size) may
  // see documents appended since: a split point past the last `_id` would give the last partition a bound inside
  // another partition's range, copied twice.
  test("split points read after documents were appended past the last _id are dropped: each document is copied once", async () => {
    const r = rig({ builtin: { batchBytes: 64 * 1024, parallelCollections: 4 } });
    await seed(r.source, "shop", "orders", 4000, doc);
    const s = watchingOpen(r, "shop", { statsTurnMs: 20 });
    let asked = 0;
    const open = async (uri: string): Promise<ClusterPort> => {
      const port = await s.open(uri);
      if (uri !== r.spec.source.uri) return port;
      const splitPoints = port.splitPoints.bind(port);
      port.splitPoints = async (ns, parts) => {
        // An application appends as many documents again just before the split points are read.
        if (asked++ === 0) await seed(r.source, "shop", "orders", 4000, (i) => doc(4000 + i));
        const points = await splitPoints(ns, parts);
        expect(points.some((p) => Number(p) >= 4000)).toBe(true); // the race this test is about
        return points;
      };
      return port;
    };
    const engine = r.makeEngine({ open });
    const { handle, status } = await syncUntilReady(r, engine);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(asked).toBe(1);
    // READY is "within the lag allowed"; the appended documents are replayed by the advances that follow.
    for (let i = 0; i < 10 && (await r.target.connect().countDocuments({ db: "shop", coll: "orders" })) < 8000; i++) await engine.advance(r.spec, handle, r.ctx);
    // The copy inserted the 4,000 documents of T0 once each (no DuplicateKey, no upsert); the rest came by replay.
    expect(s.seen.ops).toMatchObject({ insertOne: 4000, replaceOne: 0 });
    expect(await r.target.connect().countDocuments({ db: "shop", coll: "orders" })).toBe(8000);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });

  // A small collection that waited for a large one's partitions would add its few round trips in series after
  // them; over a slow link twice parallelCollections partitions are read at once (copy-pace.ts).
  test("over a slow link small collections are read while a split one is (2 x parallelCollections partitions at once)", async () => {
    const seeded = async (r: Rig) => {
      await seed(r.source, "shop", "orders", 4000, doc); // split in 2 over the slow link
      for (const name of ["a", "b"]) await seed(r.source, "shop", name, 300, doc);
    };
    const slow = rig({ builtin: { batchBytes: 64 * 1024, parallelCollections: 2 } });
    await seeded(slow);
    const s = watchingOpen(slow, "shop", { linkMs: 20, writeTurns: 4 });
    expect((await syncUntilReady(slow, slow.makeEngine({ open: s.open }))).status.phase).toBe("READY_FOR_CUTOVER");
    expect(slow.ctx.lines.join("\n")).toMatch(/copy pace: RTT-bound link .*4 partitions at once/);
    expect(s.seen.peakScansOpen).toBeGreaterThan(2);
    expect(s.seen.peakScansOpen).toBeLessThanOrEqual(4);
    for (const coll of ["orders", "a", "b"]) expectIdentical(await compare(slow.source, slow.target, { db: "shop", coll }));

    const fast = rig({ builtin: { batchBytes: 64 * 1024, parallelCollections: 2 } });
    await seeded(fast);
    const f = watchingOpen(fast, "shop", { writeTurns: 4 });
    await syncUntilReady(fast, fast.makeEngine({ open: f.open }));
    expect(fast.ctx.lines.join("\n")).toMatch(/copy pace: fast link .*2 partitions at once/);
    expect(f.seen.peakScansOpen).toBeLessThanOrEqual(2);
  });

  test("the copy ends at T0's last _id while an application keeps appending past it (the rest comes by replay)", async () => {
    const r = rig({ builtin: { batchBytes: 64 * 1024 } });
    await seed(r.source, "shop", "orders", 1500, doc);
    // After every batch the copy reads, the application appends twice a batch at the end of `_id` order: a copy
    // that scans to the end of the collection never catches up (it gives up after LIMIT rounds here).
    const LIMIT = 60;
    let rounds = 0;
    let nextId = 1500;
    const { seen, open } = watchingOpen(r, "shop", {
      afterScanBatch: async (batch) => {
        if (rounds >= LIMIT) return;
        rounds++;
        const docs = Array.from({ length: 2 * batch.length }, () => doc(nextId++));
        await r.source.db("shop").collection<AnyDoc>("orders").insertMany(docs);
      },
    });
    const engine = r.makeEngine({ open });
    const { handle, status } = await syncUntilReady(r, engine);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(rounds).toBeLessThan(LIMIT);
    for (let i = 0; i < 10 && (await r.source.db("shop").collection("orders").countDocuments()) !== (await r.target.db("shop").collection("orders").countDocuments()); i++) {
      await engine.advance(r.spec, handle, r.ctx);
    }
    // The copy wrote exactly the documents there were at T0; the appended ones were replayed.
    expect(seen.ops.insertOne).toBe(1500);
    expect(nextId).toBeGreaterThan(3000);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });

  // Over a slow link each write costs a round trip plus its bytes at one connection's pace: throughput comes from
  // many writes in flight. Writes here stay open for many event-loop turns, so the writes are what is behind.
  const kb = (i: number) => ({ _id: i, pad: "k".repeat(1000) });

  test("over a slow link one partition grows its writes in flight past the starting window, within the budget", async () => {
    const slow = rig({ builtin: { batchBytes: 4 * 1024 * 1024, parallelCollections: 1 } });
    await seed(slow.source, "shop", "orders", 3000, kb);
    const s = watchingOpen(slow, "shop", { writeTurns: 30, linkMs: 20 });
    expect((await syncUntilReady(slow, slow.makeEngine({ open: s.open }))).status.phase).toBe("READY_FOR_CUTOVER");
    expect(s.seen.peakWritesInFlight).toBeGreaterThan(4); // the starting window (copy-pace.ts SLOW_WINDOW)
    expect(s.seen.peakWritesInFlight).toBeLessThanOrEqual(16); // SLOW_WINDOW_MAX
    expect(s.seen.peakHeld).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(slow.ctx.lines.join("\n")).toMatch(/copy pace: RTT-bound link/);
    expectIdentical(await compare(slow.source, slow.target, { db: "shop", coll: "orders" }));

    // The same copy on a fast link keeps two writes in flight (more only hold more documents alive).
    const fast = rig({ builtin: { batchBytes: 4 * 1024 * 1024, parallelCollections: 1 } });
    await seed(fast.source, "shop", "orders", 3000, kb);
    const f = watchingOpen(fast, "shop", { writeTurns: 30 });
    await syncUntilReady(fast, fast.makeEngine({ open: f.open }));
    expect(f.seen.peakWritesInFlight).toBe(2);
    expectIdentical(await compare(fast.source, fast.target, { db: "shop", coll: "orders" }));
  });

  test("over a slow link the whole process keeps at most 32 copy writes in flight, and within the budget", async () => {
    const r = rig({ builtin: { batchBytes: 4 * 1024 * 1024, parallelCollections: 4 } });
    for (const c of ["a", "b", "c", "d"]) await seed(r.source, "shop", c, 3000, kb);
    const { seen, open } = watchingOpen(r, "shop", { writeTurns: 60, linkMs: 20 });
    expect((await syncUntilReady(r, r.makeEngine({ open }))).status.phase).toBe("READY_FOR_CUTOVER");
    expect(seen.peakWritesInFlight).toBeGreaterThan(16); // more than the 4 × 4 of fixed windows
    expect(seen.peakWritesInFlight).toBeLessThanOrEqual(32); // copy-pace.ts MAX_WRITERS
    expect(seen.peakHeld).toBeLessThanOrEqual(4 * 1024 * 1024);
    for (const c of ["a", "b", "c", "d"]) expectIdentical(await compare(r.source, r.target, { db: "shop", coll: c }));
  });

  test("BSON undefined is looked for only in the documents the port names as suspects (no walk of the others)", async () => {
    const warnsWith = async (suspects: (batch: ScanBatch) => number[]): Promise<boolean> => {
      const r = rig({ builtin: { batchBytes: 64 * 1024 } });
      // Stored as a legacy driver would: `a` is BSON undefined (0x06); the driver reads it as `undefined`. In the
      // middle of the range (the last _id is read on its own, past the scan).
      const idElement = Buffer.from(BSON.serialize({ _id: 301 })).subarray(4, -1);
      const raw = Buffer.concat([Buffer.alloc(4), idElement, Buffer.from([0x06, 0x61, 0x00, 0x00])]);
      raw.writeInt32LE(raw.length, 0);
      r.source.insertRawBson("shop", "orders", raw);
      // Seeded after it, so T0 (the last write before the start, which replay includes) is not that insert.
      await seed(r.source, "shop", "orders", 300, (i) => doc(2 * i));
      const { open } = watchingOpen(r, "shop", { suspects });
      const { status } = await syncUntilReady(r, r.makeEngine({ open }));
      expect(status.phase).toBe("READY_FOR_CUTOVER");
      return status.warnings.some((w) => w.includes("holds documents with the deprecated BSON undefined type"));
    };
    const legacy = (batch: ScanBatch) => batch.flatMap((d, i) => (Number(d._id) === 301 ? [i] : []));
    expect(await warnsWith(legacy)).toBe(true);
    // A port that vouches for every document (no 0x06 byte in any) is believed: nothing is walked.
    expect(await warnsWith(() => [])).toBe(false);
  });
});
