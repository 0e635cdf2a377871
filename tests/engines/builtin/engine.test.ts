// End-to-end behaviour of the builtin engine over MemoryCluster: start → advance → cutover → COMPLETE.
import { BSON, type Document, Decimal128, Double, Int32, Long, ObjectId, Binary, BSONRegExp, Timestamp, MinKey, MaxKey, UUID } from "mongodb";
import { MemoryCluster } from "../../../testing/memory-cluster";
import type { ClusterPort } from "../../../provider/cluster/port";
import { compare, expectIdentical, exactDocs, rig, seed, syncUntilReady } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

describe("builtin engine: happy path", () => {
  test("copies, replays, cuts over and verifies; source stays blocked", async () => {
    const r = rig({ builtin: { batchBytes: 8 * 1024 } });
    await seed(r.source, "shop", "orders", 500);
    await seed(r.source, "shop", "users", 40, (i) => ({ _id: new ObjectId(), name: `u${i}` }));
    const { handle, status } = await syncUntilReady(r);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(status.copiedDocuments).toBe(540);
    expect(status.totalDocuments).toBe(540);

    // Changes after the copy arrive through the change stream.
    await r.source.db("shop").collection<AnyDoc>("orders").updateOne({ _id: 3 }, { $set: { n: -3 } });
    await r.source.db("shop").collection<AnyDoc>("orders").deleteOne({ _id: 4 });
    await r.source.db("shop").collection<AnyDoc>("orders").insertOne({ _id: 1000, n: 1000 });

    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.phase).toBe("COMPLETE");
    expect(report.verification.passed).toBe(true);
    expect(report.verification.namespaces.map((n) => n.namespace)).toEqual(["shop.orders", "shop.users"]);
    expect(r.source.writesBlocked).toBe(true);
    expect(report.warnings.join(" ")).toMatch(/setUserWriteBlockMode: 1, global: false/);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "users" }));

    // After COMPLETE: status and a repeated cutover still answer from the completion marker.
    const after = await r.engine.status(r.spec, handle, r.ctx);
    expect(after.phase).toBe("COMPLETE");
    expect(after.warnings.join(" ")).toMatch(/setUserWriteBlockMode/);
    const again = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(again.cutoverCompletedAt).toBe(report.cutoverCompletedAt);
    // Only the completion marker remains in the reserved database, beside the record of what blocking the engine
    // set (kept until it is undone, so `atlas-migrate unblock` can undo it even after a reset).
    const left = await exactDocs(r.target, { db: "__atlas_migration", coll: "checkpoints" });
    expect(left.map((d) => d.key)).toEqual(["blocking", "completion"]);
  });

  test("the checkpoint keeps a spec copy without connection strings", async () => {
    const r = rig();
    await seed(r.source, "a", "b", 3);
    await r.engine.start(r.spec, r.ctx);
    const [state] = await exactDocs(r.target, { db: "__atlas_migration", coll: "checkpoints" });
    const text = JSON.stringify(state);
    expect(text).toContain(r.spec.migrationId);
    expect(text).toContain('"batchBytes"');
    expect(text).not.toContain(r.spec.source.uri!);
    expect(text).not.toContain(r.spec.target.uri!);
  });

  test("change events without fullDocument are completed by reading the document from the source", async () => {
    const r = rig();
    await seed(r.source, "a", "b", 30);
    const open = async (uri: string): Promise<ClusterPort> => {
      const port = MemoryCluster.resolve(uri).connect();
      if (uri !== r.spec.source.uri) return port;
      const watch = port.watch.bind(port);
      port.watch = async (start) => {
        const cursor = await watch(start);
        const nextBatch = cursor.nextBatch.bind(cursor);
        cursor.nextBatch = async (ms) => (await nextBatch(ms)).map(({ fullDocument: _dropped, ...ev }) => ev);
        return cursor;
      };
      return port;
    };
    const engine = r.makeEngine({ open });
    const { handle } = await syncUntilReady(r, engine);
    const b = r.source.db("a").collection<AnyDoc>("b");
    await b.updateOne({ _id: 1 }, { $set: { n: "updated" } });
    await b.insertOne({ _id: 100, n: "inserted" });
    await b.updateOne({ _id: 2 }, { $set: { n: "gone soon" } });
    await b.deleteOne({ _id: 2 });
    await engine.advance(r.spec, handle, r.ctx);
    expectIdentical(await compare(r.source, r.target, { db: "a", coll: "b" }));
  });

  test("checkpoints survive a store that round-trips through BSON like the driver (undefined → null, numbers promoted)", async () => {
    const r = rig({ builtin: { partitionDocuments: 50 } });
    await seed(r.source, "a", "b", 200);
    const open = async (uri: string): Promise<ClusterPort> => {
      const port = MemoryCluster.resolve(uri).connect();
      const checkpoints = port.checkpoints.bind(port);
      const viaBson = (d: Document) => BSON.deserialize(BSON.serialize(d, { ignoreUndefined: false }));
      port.checkpoints = (id) => {
        const store = checkpoints(id);
        return {
          get: async (key) => {
            const doc = await store.get(key);
            return doc && viaBson(doc);
          },
          put: (key, value) => store.put(key, viaBson(value)),
          compareAndSet: (key, version, value) => store.compareAndSet(key, version, viaBson(value)),
          clear: () => store.clear(),
        };
      };
      return port;
    };
    const engine = r.makeEngine({ open });
    const { handle, status } = await syncUntilReady(r, engine);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    await r.source.db("a").collection<AnyDoc>("b").insertOne({ _id: 500 });
    expect((await engine.cutover(r.spec, handle, r.ctx)).verification.passed).toBe(true);
    expectIdentical(await compare(r.source, r.target, { db: "a", coll: "b" }));
  });

  test("start is idempotent by migrationId", async () => {
    const r = rig();
    await seed(r.source, "a", "b", 10);
    const h1 = await r.engine.start(r.spec, r.ctx);
    r.ctx.advance(5000);
    const h2 = await r.makeEngine().start(r.spec, r.ctx);
    expect(h2.startedAt).toBe(h1.startedAt);
    expect(h2.id).toBe(r.spec.migrationId);
  });

  test("BSON types survive exactly", async () => {
    const r = rig();
    const doc = {
      _id: 1,
      int32: new Int32(7),
      long: Long.fromString("9007199254740993"),
      smallLong: Long.fromNumber(5),
      double: new Double(1),
      negZero: new Double(-0),
      decimal: Decimal128.fromString("12345.678900"),
      regex: new BSONRegExp("^a.c$", "imx"),
      bin: new Binary(Buffer.from([1, 2, 3]), 0x80),
      uuid: new UUID("0f8fad5b-d9cb-469f-a165-70867728950e").toBinary(),
      ts: new Timestamp({ t: 1700000000, i: 3 }),
      date: new Date("2020-02-02T00:00:00Z"),
      min: new MinKey(),
      max: new MaxKey(),
      nested: { arr: [new Int32(1), new Double(2.5), Long.fromNumber(3), null, { "": "empty key" }] },
    };
    await r.source.db("t").collection<AnyDoc>("types").insertOne(doc);
    await r.source.db("t").collection<AnyDoc>("types").insertOne({ _id: new ObjectId(), z: 1, a: 2 }); // field order kept
    const { handle } = await syncUntilReady(r);
    await r.source.db("t").collection<AnyDoc>("types").insertOne({ _id: 2, late: Decimal128.fromString("-0.0"), l: Long.fromNumber(1) });
    await r.engine.cutover(r.spec, handle, r.ctx);
    expectIdentical(await compare(r.source, r.target, { db: "t", coll: "types" }));
    const [copied] = await exactDocs(r.target, { db: "t", coll: "types" });
    expect(copied.long).toBeInstanceOf(Long);
    expect(copied.double).toBeInstanceOf(Double);
    expect(copied.regex).toBeInstanceOf(BSONRegExp);
    expect((copied.bin as Binary).sub_type).toBe(0x80);
  });
});

describe("builtin engine: status between `pulumi up` runs (no sync process holds the lease)", () => {
  test("an idle source reads as caught up; writes since the last run read as SYNCING with their lag", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 20);
    const { handle } = await syncUntilReady(r);
    expect((await r.engine.status(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");

    r.ctx.advance(30_000);
    await r.source.db("shop").collection<AnyDoc>("orders").insertOne({ _id: 1000 });
    r.ctx.advance(20_000);
    await r.source.db("shop").collection<AnyDoc>("orders").insertOne({ _id: 1001 });
    const status = await r.engine.status(r.spec, handle, r.ctx);
    expect(status).toMatchObject({ phase: "SYNCING", readyForCutover: false, lagSeconds: 20 });
    expect(status.warnings.join("\n")).toMatch(/no sync process is running/);
    // Looking changed nothing: the target has not received the new documents.
    expect(await r.target.db("shop").collection("orders").countDocuments({})).toBe(20);
  });

  test("a change history that no longer reaches the checkpoint is reported with the restart command", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 5);
    const { handle } = await syncUntilReady(r);
    await r.source.db("shop").collection<AnyDoc>("orders").insertOne({ _id: 99 });
    r.source.truncateChangeLog({ keepLast: 0 });
    const status = await r.engine.status(r.spec, handle, r.ctx);
    expect(status.readyForCutover).toBe(false);
    expect(status.warnings.join("\n")).toMatch(/atlas-migrate reset/);
  });
});
