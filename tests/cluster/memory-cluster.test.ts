// MemoryCluster beyond the shared conformance suite: the registry behind memory:// URIs, fault injection,
// the driver-shaped collection API, users and read-only cutover, topologies, and the change log's waiting.
import { Double, Int32, Long, MongoNetworkError, MongoServerError, ObjectId, Timestamp } from "mongodb";
import { openCluster } from "../../provider/cluster/open";
import { HistoryLostError } from "../../provider/errors";
import {
  MemoryCluster,
  isRetryableError,
  networkError,
  notWritablePrimaryError,
  shutdownInProgressError,
} from "../../testing/memory-cluster";
import { POINTED, el, rawDocument } from "../support/raw-bson";

// Like with the driver, `collection()` defaults to ObjectId `_id`s; these tests use other `_id` types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = { _id: number | string; [key: string]: any };

afterEach(() => {
  MemoryCluster.reset();
  jest.useRealTimers();
});

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: number; codeName?: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code?: number };
  }
  throw new Error("expected a rejection");
}

async function scanIds(port: { scan: MemoryCluster["scan"] }, db: string, coll: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const batch of port.scan({ db, coll }, {}, 100)) out.push(...batch.map((d) => d._id));
  return out;
}

describe("registry and memory:// URIs", () => {
  test("create registers a name that openCluster resolves to the same data", async () => {
    const cluster = MemoryCluster.create("src");
    await cluster.db("shop").collection<Loose>("orders").insertOne({ _id: 1 });
    const port = await openCluster("memory://src");
    expect(port.description).toBe("memory://src");
    expect(await port.countDocuments({ db: "shop", coll: "orders" })).toBe(1);
    expect(MemoryCluster.get("src")).toBe(cluster);
    expect(() => MemoryCluster.create("src")).toThrow(/already exists/);
    expect(MemoryCluster.remove("src")).toBe(true);
    expect(MemoryCluster.get("src")).toBeUndefined();
  });

  test("an unknown memory:// URI fails with a message naming it, credentials masked", async () => {
    const err = await rejection(openCluster("memory://app:hunter2secret@nowhere"));
    expect(err.message).toContain("nowhere");
    expect(err.message).toContain("MemoryCluster.create");
    expect(err.message).not.toContain("hunter2secret");
  });

  test("a second copy of the module sees clusters registered by the first (globalThis registry)", () => {
    const cluster = MemoryCluster.create("shared");
    let other: typeof MemoryCluster | undefined;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      other = require("../../testing/memory/memory-cluster").MemoryCluster;
    });
    expect(other).toBeDefined();
    expect(other).not.toBe(MemoryCluster);
    expect(other!.get("shared")).toBe(cluster);
  });

  test("closing an opened connection leaves the cluster and other connections usable", async () => {
    const cluster = MemoryCluster.create("closable");
    const port = await openCluster("memory://closable");
    await port.close();
    expect((await rejection(port.countDocuments({ db: "a", coll: "b" }))).message).toMatch(/closed/);
    await cluster.close(); // the cluster object itself stays usable
    await cluster.db("a").collection<Loose>("b").insertOne({ _id: 1 });
    expect(await (await openCluster("memory://closable")).countDocuments({ db: "a", coll: "b" })).toBe(1);
  });

  test("rejects URIs it cannot open", async () => {
    expect((await rejection(openCluster("postgres://u:pw1234@h/db"))).message).not.toContain("pw1234");
  });
});

describe("fault injection", () => {
  test("failNext fails exactly N calls with retryable, driver-shaped errors; the write did not happen", async () => {
    const cluster = new MemoryCluster();
    const ns = { db: "d", coll: "c" };
    cluster.faults.failNext("bulkWrite", 2, notWritablePrimaryError);
    for (let i = 0; i < 2; i++) {
      const err = await rejection(cluster.bulkWrite(ns, [{ insertOne: { document: { _id: 1 } } }], true));
      expect(err).toBeInstanceOf(MongoServerError);
      expect(err.code).toBe(10107);
      expect((err as MongoServerError).hasErrorLabel("RetryableWriteError")).toBe(true);
      expect(isRetryableError(err)).toBe(true);
    }
    expect(await cluster.countDocuments(ns)).toBe(0);
    await cluster.bulkWrite(ns, [{ insertOne: { document: { _id: 1 } } }], true);
    expect(await cluster.countDocuments(ns)).toBe(1);
    expect(cluster.faults.injected("bulkWrite")).toBe(2);
    expect(cluster.faults.pendingCount("bulkWrite")).toBe(0);
  });

  test("an `after` fault applies the write and then reports an error (the lost-acknowledgement case)", async () => {
    const cluster = new MemoryCluster();
    const ns = { db: "d", coll: "c" };
    cluster.faults.failNext("bulkWrite", 1, () => networkError(), { when: "after" });
    const err = await rejection(cluster.bulkWrite(ns, [{ insertOne: { document: { _id: 1 } } }], true));
    expect(err).toBeInstanceOf(MongoNetworkError);
    expect(isRetryableError(err)).toBe(true);
    expect(await cluster.countDocuments(ns)).toBe(1);
    // A blind retry of an insert now collides; an upsert-by-key retry is harmless.
    expect((await rejection(cluster.bulkWrite(ns, [{ insertOne: { document: { _id: 1 } } }], true))).code).toBe(11000);
    const replay = await cluster.bulkWrite(ns, [{ replaceOne: { filter: { _id: 1 }, replacement: { _id: 1 }, upsert: true } }], true);
    expect(replay.modified + replay.upserted).toBe(0);
  });

  test("`skip` lets calls through first: a scan can fail in the middle", async () => {
    const cluster = new MemoryCluster();
    await cluster.db("d").collection<Loose>("c").insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i })));
    cluster.faults.failNext("scanBatch", 1, shutdownInProgressError, { skip: 1 });
    const seen: unknown[] = [];
    const err = await rejection(
      (async () => {
        for await (const batch of cluster.scan({ db: "d", coll: "c" }, {}, 3)) seen.push(...batch.map((d) => d._id));
      })(),
    );
    expect(err.code).toBe(91);
    // First batch (scan) and second (first scanBatch, skipped) arrived; the third failed.
    expect(seen).toHaveLength(6);
    // Resuming after the last `_id` seen finishes the job without duplicates.
    for await (const batch of cluster.scan({ db: "d", coll: "c" }, { after: seen[seen.length - 1] }, 3)) seen.push(...batch.map((d) => d._id));
    expect(seen.map((v) => Number(v))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test("change cursors and checkpoints have their own fault points", async () => {
    const cluster = new MemoryCluster();
    const cursor = await cluster.watch({});
    cluster.faults.failNext("nextBatch", 1);
    expect(await rejection(cursor.nextBatch(0))).toBeInstanceOf(MongoNetworkError);
    expect(await cursor.nextBatch(0)).toEqual([]);
    cluster.faults.failNext("checkpoint.compareAndSet", 1);
    const store = cluster.checkpoints("m");
    expect(await rejection(store.compareAndSet("k", null, { a: 1 }))).toBeInstanceOf(MongoNetworkError);
    expect(await store.get("k")).toBeNull();
    expect(await store.compareAndSet("k", null, { a: 1 })).toBe(true);
    cluster.faults.failNext("watch", 1);
    expect(await rejection(cluster.watch({}))).toBeInstanceOf(MongoNetworkError);
    cluster.faults.failNext("listCollections", 3);
    cluster.faults.clear();
    expect(await cluster.listCollections()).toEqual([]);
  });
});

describe("driver-shaped collection API", () => {
  test("insertOne/insertMany return the driver's results and generate ObjectIds like the driver", async () => {
    const cluster = new MemoryCluster();
    const coll = cluster.db("shop").collection<Loose>("orders");
    const doc: { _id?: ObjectId; total: number } = { total: 5 };
    const one = await cluster.db("shop").collection("orders").insertOne(doc);
    expect(one.acknowledged).toBe(true);
    expect(one.insertedId).toBeInstanceOf(ObjectId);
    expect(doc._id).toBe(one.insertedId);
    const many = await coll.insertMany([{ _id: 1 }, { _id: 2 }]);
    expect(many).toEqual({ acknowledged: true, insertedCount: 2, insertedIds: { 0: 1, 1: 2 } });
    const err = await rejection(coll.insertMany([{ _id: 3 }, { _id: 1 }, { _id: 4 }]));
    expect(err.code).toBe(11000);
    expect(await coll.countDocuments()).toBe(4); // ordered: _id 4 was not attempted
    await rejection(coll.insertMany([{ _id: 5 }, { _id: 1 }, { _id: 6 }], { ordered: false }));
    expect(await coll.countDocuments()).toBe(6);
  });

  test("updateOne with $set/$unset/$inc keeps numeric types the way the server does; upsert seeds from the filter", async () => {
    const cluster = new MemoryCluster();
    const coll = cluster.db("d").collection<Loose>("c");
    await coll.insertOne({ _id: 1, n: 2147483647, d: 1.5, gone: true, nested: { a: 1 } });
    const r = await coll.updateOne({ _id: 1 }, { $inc: { n: 1, d: 1, fresh: 2 }, $unset: { gone: "" }, $set: { "nested.b": "x" } });
    expect(r).toEqual({ acknowledged: true, matchedCount: 1, modifiedCount: 1, upsertedCount: 0, upsertedId: null });
    const exact = await coll.findOne({ _id: 1 }, { promoteValues: false });
    expect(exact).toEqual({ _id: new Int32(1), n: new Long(2147483648), d: new Double(2.5), nested: { a: new Int32(1), b: "x" }, fresh: new Int32(2) });
    // Default reads promote like the driver: plain numbers.
    expect(await coll.findOne({ _id: 1 })).toEqual({ _id: 1, n: 2147483648, d: 2.5, nested: { a: 1, b: "x" }, fresh: 2 });
    const noop = await coll.updateOne({ _id: 1 }, { $set: { d: 2.5 } });
    expect(noop.modifiedCount).toBe(0);
    const up = await coll.updateOne({ _id: 7, kind: "a" }, { $set: { v: 1 } }, { upsert: true });
    expect(up.upsertedId).toBe(7);
    expect(await coll.findOne({ _id: 7 })).toEqual({ _id: 7, kind: "a", v: 1 });
    expect((await rejection(coll.updateOne({ _id: 1 }, { $set: { _id: 2 } }))).code).toBe(66);
    expect((await rejection(coll.updateOne({ _id: 1 }, { $push: { a: 1 } } as never))).message).toMatch(/\$push/);
  });

  test("replaceOne, deleteOne and find with filters, sort and limit", async () => {
    const cluster = new MemoryCluster();
    const coll = cluster.db("d").collection<Loose>("people");
    await coll.insertMany([
      { _id: 3, name: "c", age: 30, tags: ["x", "y"] },
      { _id: 1, name: "a", age: 40 },
      { _id: 2, name: "b", age: 20, tags: ["y"] },
    ]);
    expect((await coll.find().toArray()).map((d) => d._id)).toEqual([1, 2, 3]);
    expect((await coll.find({ age: { $gte: 30 } }).toArray()).map((d) => d._id)).toEqual([1, 3]);
    expect((await coll.find({ tags: "y" }).sort({ age: -1 }).toArray()).map((d) => d._id)).toEqual([3, 2]);
    expect((await coll.find({}, { sort: { name: -1 }, limit: 2 }).toArray()).map((d) => d.name)).toEqual(["c", "b"]);
    expect(await coll.countDocuments({ tags: { $exists: false } })).toBe(1);
    expect((await coll.find({ $or: [{ _id: 1 }, { name: "c" }] }).toArray()).map((d) => d._id)).toEqual([1, 3]);
    const replaced = await coll.replaceOne({ _id: 2 }, { name: "bee" });
    expect(replaced.modifiedCount).toBe(1);
    expect(await coll.findOne({ _id: 2 })).toEqual({ _id: 2, name: "bee" });
    expect((await coll.deleteOne({ age: { $lt: 35 } })).deletedCount).toBe(1);
    expect((await coll.find().toArray()).map((d) => d._id)).toEqual([1, 2]);
    const ids: unknown[] = [];
    for await (const d of coll.find()) ids.push(d._id);
    expect(ids).toEqual([1, 2]);
  });

  test("createIndex names the index like the server and enforces uniqueness; writes reach the change log", async () => {
    const cluster = new MemoryCluster();
    const coll = cluster.db("d").collection<Loose>("c");
    const t0 = await cluster.clusterTime();
    expect(await coll.createIndex({ email: 1, at: -1 }, { unique: true })).toBe("email_1_at_-1");
    await coll.insertOne({ _id: 1, email: "a", at: 1 });
    expect((await rejection(coll.insertOne({ _id: 2, email: "a", at: 1 }))).code).toBe(11000);
    await coll.insertOne({ _id: 3, email: "a" }); // at missing = null: a different key
    expect((await rejection(coll.insertOne({ _id: 4, email: "a", at: null }))).code).toBe(11000);
    const cursor = await cluster.watch({ startAtOperationTime: t0! });
    const kinds = (await cursor.nextBatch(0)).map((e) => e.operationType);
    expect(kinds).toEqual(["create", "createIndexes", "insert", "insert"]);
  });

  test("views refuse writes (code 166) and scans of them return nothing", async () => {
    const cluster = new MemoryCluster();
    await cluster.db("d").createCollection("base");
    await cluster.db("d").createCollection("v", { viewOn: "base", pipeline: [] });
    expect((await rejection(cluster.db("d").collection<Loose>("v").insertOne({ _id: 1 }))).code).toBe(166);
    expect(await scanIds(cluster, "d", "v")).toEqual([]);
    expect((await rejection(cluster.db("d").createCollection("base"))).code).toBe(48);
  });
});

describe("users, privileges and write blocking", () => {
  test("a user made read-only with setUserRoles can no longer write, on connections already open", async () => {
    const cluster = MemoryCluster.create("users");
    cluster.addUser("app", "admin", [{ role: "readWrite", db: "shop" }]);
    const app = await openCluster("memory://app@users");
    const orders = cluster.as("app").db("shop").collection<Loose>("orders");
    await orders.insertOne({ _id: 1 });
    await app.bulkWrite({ db: "shop", coll: "orders" }, [{ insertOne: { document: { _id: 2 } } }], true);
    // Not allowed outside its database.
    expect((await rejection(cluster.as("app").db("other").collection<Loose>("x").insertOne({ _id: 1 }))).code).toBe(13);

    // The deployment's root user (the default connection) is listed like any other user.
    expect(await cluster.listUsers()).toEqual([
      { user: "root", db: "admin", roles: [{ role: "root", db: "admin" }] },
      { user: "app", db: "admin", roles: [{ role: "readWrite", db: "shop" }] },
    ]);
    await cluster.setUserRoles("app", "admin", [{ role: "read", db: "shop" }]);
    const denied = await rejection(orders.insertOne({ _id: 3 }));
    expect(denied.code).toBe(13);
    expect(denied.codeName).toBe("Unauthorized");
    expect((await rejection(app.bulkWrite({ db: "shop", coll: "orders" }, [{ deleteOne: { filter: { _id: 1 } } }], true))).code).toBe(13);
    // Reads still work.
    expect(await orders.countDocuments()).toBe(2);
    expect((await app.privileges()).flatMap((p) => p.actions)).not.toContain("insert");
    // An unprivileged user cannot manage users.
    expect((await rejection(app.setUserRoles("app", "admin", [{ role: "root", db: "admin" }]))).code).toBe(13);
    expect((await rejection(cluster.setUserRoles("ghost", "admin", []))).code).toBe(11);
    // A whole-deployment change stream needs read access to every database.
    expect((await rejection(app.watch({}))).code).toBe(13);
    cluster.addUser("reader", "admin", [{ role: "readAnyDatabase", db: "admin" }]);
    await cluster.as("reader").watch({});
  });

  // mongod: src/mongo/db/auth/authorization_session_impl.cpp `_updateInternalAuthorizationState` — a caller
  // bypasses user write blocking when it holds bypassWriteBlockingMode on the cluster (restore; root inherits it;
  // __system), or when access control is off.
  test("write blocking stops every caller except those holding bypassWriteBlockingMode (restore, root, __system)", async () => {
    const cluster = new MemoryCluster();
    cluster.addUser("app", "admin", [{ role: "readWriteAnyDatabase", db: "admin" }, { role: "dbAdminAnyDatabase", db: "admin" }]);
    cluster.addUser("restorer", "admin", [{ role: "restore", db: "admin" }]);
    cluster.addUser("admin", "admin", [{ role: "root", db: "admin" }]);
    await cluster.setUserWriteBlocking(true);
    expect(cluster.writesBlocked).toBe(true);
    const app = cluster.as("app");
    expect((await rejection(app.db("d").collection<Loose>("c").insertOne({ _id: 1 }))).code).toBe(371);
    expect((await rejection(app.createCollection({ db: "d", name: "x", kind: "collection", options: {}, indexes: [] }))).code).toBe(371);
    await cluster.as("restorer").db("d").collection<Loose>("c").insertOne({ _id: 1 });
    await cluster.as("admin").db("d").collection<Loose>("c").insertOne({ _id: 2 });
    await cluster.db("d").collection<Loose>("c").insertOne({ _id: 3 }); // the default connection is root
    expect(await cluster.countDocuments({ db: "d", coll: "c" })).toBe(3);
    await cluster.setUserWriteBlocking(false);
    await app.db("d").collection<Loose>("c").insertOne({ _id: 4 });
  });

  test("without access control every connection bypasses write blocking and connectionStatus lists no user", async () => {
    const cluster = new MemoryCluster({ accessControl: false });
    cluster.addUser("app", "admin", [{ role: "read", db: "d" }]);
    expect(await cluster.authenticatedUsers()).toEqual([]);
    await cluster.setUserWriteBlocking(true);
    await cluster.as("app").db("d").collection<Loose>("c").insertOne({ _id: 1 });
    expect(await cluster.countDocuments({ db: "d", coll: "c" })).toBe(1);
  });

  // builtin_roles.yml: readWrite(AnyDatabase) has no bypassDocumentValidation, collMod or dropDatabase; dbAdmin and
  // restore do. setUserWriteBlockMode: backup and restore only.
  test("built-in roles grant what builtin_roles.yml grants, and the bypassDocumentValidation flag is checked", async () => {
    const cluster = new MemoryCluster();
    await cluster.db("shop").collection<Loose>("orders").createIndex({ at: 1 }, { expireAfterSeconds: 60 });
    cluster.addUser("rw", "admin", [{ role: "readWriteAnyDatabase", db: "admin" }]);
    cluster.addUser("dba", "admin", [{ role: "readWrite", db: "shop" }, { role: "dbAdmin", db: "shop" }]);
    cluster.addUser("manager", "admin", [{ role: "clusterManager", db: "admin" }]);
    cluster.addUser("backup", "admin", [{ role: "backup", db: "admin" }]);
    cluster.addUser("wrongDb", "shop", [{ role: "readWriteAnyDatabase", db: "shop" }]); // adminOnly role elsewhere: nothing
    const ns = { db: "shop", coll: "orders" };
    const insert = (id: number) => [{ insertOne: { document: { _id: id } } }];
    const rw = cluster.as("rw");
    await rw.bulkWrite(ns, insert(1), true);
    expect((await rejection(rw.bulkWrite(ns, insert(2), true, { bypassDocumentValidation: true }))).code).toBe(13);
    expect((await rejection(rw.setIndexExpiry(ns, "at_1", 120))).code).toBe(13);
    expect((await rejection(rw.dropDatabase("shop"))).code).toBe(13);
    const dba = cluster.as("dba");
    await dba.bulkWrite(ns, insert(2), true, { bypassDocumentValidation: true });
    await dba.setIndexExpiry(ns, "at_1", 120);
    expect((await rejection(cluster.as("manager").setUserWriteBlocking(true))).code).toBe(13);
    await cluster.as("backup").setUserWriteBlocking(true);
    await cluster.setUserWriteBlocking(false);
    expect((await rejection(cluster.as("wrongDb", "shop").bulkWrite(ns, insert(3), true))).code).toBe(13);
    // readAnyDatabase covers every database except local and config.
    cluster.addUser("reader", "admin", [{ role: "readAnyDatabase", db: "admin" }]);
    const privileges = await cluster.as("reader").privileges();
    expect(privileges.some((p) => p.resource.db === "local")).toBe(false);
  });

  // The driver sends an unordered bulk as one insert, one update and one delete command, in that order
  // (mongodb src/bulk/unordered.ts, src/bulk/common.ts).
  test("an unordered bulk runs inserts, then updates, then deletes, whatever order they were queued in", async () => {
    const cluster = new MemoryCluster();
    const ns = { db: "d", coll: "c" };
    await cluster.bulkWrite(ns, [{ insertOne: { document: { _id: 1, v: 1 } } }], true);
    await cluster.bulkWrite(
      ns,
      [{ deleteOne: { filter: { _id: 1 } } }, { replaceOne: { filter: { _id: 1 }, replacement: { v: 2 }, upsert: true } }],
      false,
    );
    expect(await cluster.findById(ns, 1)).toBeNull(); // the delete ran last
    await cluster.bulkWrite(
      ns,
      [{ deleteOne: { filter: { _id: 1 } } }, { replaceOne: { filter: { _id: 1 }, replacement: { v: 2 }, upsert: true } }],
      true,
    );
    expect((await cluster.findById(ns, 1))?.v).toEqual(new Int32(2)); // ordered: as queued
  });

  // docs: "Field Names with Periods and Dollar Signs" — 5.0+ stores top-level $-prefixed fields, but a replacement
  // document may not carry them (DollarPrefixedFieldName, 52); $replaceWith + $literal may.
  test("replacements with top-level $-prefixed fields are refused; $replaceWith/$literal writes them", async () => {
    const cluster = new MemoryCluster();
    const ns = { db: "d", coll: "c" };
    await cluster.bulkWrite(ns, [{ insertOne: { document: { _id: 1, $price: 5 } } }], true);
    const refused = await rejection(cluster.bulkWrite(ns, [{ replaceOne: { filter: { _id: 1 }, replacement: { _id: 1, $price: 6 } } }], true));
    expect(refused.code).toBe(52);
    await cluster.bulkWrite(ns, [{ updateOne: { filter: { _id: 1 }, update: [{ $replaceWith: { $literal: { _id: 1, $price: 6 } } }], upsert: true } }], true);
    await cluster.bulkWrite(ns, [{ updateOne: { filter: { _id: 2 }, update: [{ $replaceWith: { $literal: { _id: 2, $price: 1 } } }], upsert: true } }], true);
    expect(await cluster.findById(ns, 1)).toEqual({ _id: new Int32(1), $price: new Int32(6) });
    expect(await cluster.findById(ns, 2)).toEqual({ _id: new Int32(2), $price: new Int32(1) });
  });
});

describe("topologies and versions", () => {
  // docs change-events: create/createIndexes/modify/… need showExpandedEvents (6.0+); endOfTransaction is 8.0+.
  test("change streams show only the events the reported version emits", async () => {
    const types = async (version: string): Promise<string[]> => {
      const cluster = new MemoryCluster({ version });
      const cursor = await cluster.watch({});
      await cluster.withTransaction(async () => {
        await cluster.db("d").collection<Loose>("c").insertOne({ _id: 1 });
      });
      await cluster.db("d").collection<Loose>("c").createIndex({ a: 1 });
      const events = await cursor.nextBatch(0);
      await cursor.close();
      return events.map((e) => `${e.operationType}${(e as { lsid?: unknown }).lsid ? "+txn" : ""}`);
    };
    expect(await types("5.0.20")).toEqual(["insert+txn"]);
    expect(await types("7.0.14")).toEqual(["create+txn", "insert+txn", "createIndexes"]);
    expect(await types("8.0.4")).toEqual(["create+txn", "insert+txn", "endOfTransaction+txn", "createIndexes"]);
  });

  test("a standalone has no cluster time, no change streams, no oplog window and no write blocking", async () => {
    const cluster = new MemoryCluster({ topology: "standalone", version: "6.0.5" });
    expect(await cluster.serverInfo()).toEqual({ version: "6.0.5", topology: "standalone", supportsUserWriteBlocking: false });
    expect(await cluster.clusterTime()).toBeUndefined();
    expect(await cluster.oplogWindow()).toBeUndefined();
    expect((await rejection(cluster.watch({}))).code).toBe(40573);
    expect((await rejection(cluster.setUserWriteBlocking(true))).code).toBe(20);
    await cluster.db("d").collection<Loose>("c").insertOne({ _id: 1 }); // data still works
    expect(await cluster.countDocuments({ db: "d", coll: "c" })).toBe(1);
  });

  test("a 5.0 replica set streams changes but has no setUserWriteBlockMode", async () => {
    const cluster = new MemoryCluster({ version: "5.0.20", topology: "sharded" });
    expect((await cluster.serverInfo()).supportsUserWriteBlocking).toBe(false);
    expect((await rejection(cluster.setUserWriteBlocking(true))).code).toBe(59);
    await cluster.watch({});
  });

  test("the privileges option replaces the default connection's privileges", async () => {
    const cluster = new MemoryCluster({ privileges: [{ resource: { db: "shop", collection: "" }, actions: ["find"] }] });
    expect(await cluster.privileges()).toEqual([{ resource: { db: "shop", collection: "" }, actions: ["find"] }]);
    expect((await rejection(cluster.watch({}))).code).toBe(13);
    expect((await rejection(cluster.countDocuments({ db: "other", coll: "c" }))).code).toBe(13);
    expect(await cluster.countDocuments({ db: "shop", coll: "c" })).toBe(0);
  });
});

describe("change log", () => {
  test("nextBatch wakes as soon as a write happens, without waiting out its timer", async () => {
    const cluster = new MemoryCluster();
    const cursor = await cluster.watch({});
    jest.useFakeTimers();
    const pending = cursor.nextBatch(60_000);
    await cluster.db("d").collection<Loose>("c").insertOne({ _id: 1 });
    // Fake timers never fire here: only the write can have resolved the wait.
    const events = await pending;
    expect(events.map((e) => e.operationType)).toEqual(["create", "insert"]);
    const idle = cursor.nextBatch(1000);
    jest.advanceTimersByTime(1000);
    expect(await idle).toEqual([]);
  });

  test("cluster times follow the injected clock; truncation by time moves the oplog window", async () => {
    let now = 1_000_000;
    const cluster = new MemoryCluster({ now: () => now });
    const coll = cluster.db("d").collection<Loose>("c");
    await coll.insertOne({ _id: 1 });
    now += 60_000;
    await coll.insertOne({ _id: 2 });
    const cutoff = (await cluster.clusterTime())!;
    now += 60_000;
    await coll.insertOne({ _id: 3 });
    const window = (await cluster.oplogWindow())!;
    expect(window.first.high).toBe(1000);
    expect(window.seconds).toBe(120);
    expect(cluster.truncateChangeLog({ before: cutoff })).toBe(2); // create + insert 1
    const after = (await cluster.oplogWindow())!;
    expect(after.first.equals(cutoff)).toBe(true);
    expect(after.seconds).toBe(60);
    await expect(cluster.watch({ startAtOperationTime: new Timestamp({ t: 1000, i: 1 }) })).rejects.toBeInstanceOf(HistoryLostError);
    const cursor = await cluster.watch({ startAtOperationTime: cutoff });
    expect((await cursor.nextBatch(0)).map((e) => e.documentKey?._id)).toEqual([new Int32(2), new Int32(3)]);
  });

  test("a cursor that falls behind a truncation fails with HistoryLostError, not with missing events", async () => {
    const cluster = new MemoryCluster({ maxEventsPerBatch: 1 });
    const coll = cluster.db("d").collection<Loose>("c");
    const slow = await cluster.watch({});
    const fast = await cluster.watch({});
    await coll.insertOne({ _id: 1 }); // create (1) + insert (2)
    await coll.insertOne({ _id: 2 }); // insert (3)
    expect((await slow.nextBatch(0)).map((e) => e.operationType)).toEqual(["create"]);
    for (let i = 0; i < 3; i++) await fast.nextBatch(0);
    const fastToken = fast.resumeToken();
    // Dropping what the cursors already read loses nothing.
    expect(cluster.truncateChangeLog({ oldest: 1 })).toBe(1);
    expect((await slow.nextBatch(0)).map((e) => e.documentKey?._id)).toEqual([new Int32(1)]);
    const slowToken = slow.resumeToken();
    // Dropping an event the cursor has not read yet is reported, never skipped silently.
    expect(cluster.truncateChangeLog({ keepLast: 0 })).toBe(2);
    await expect(slow.nextBatch(0)).rejects.toBeInstanceOf(HistoryLostError);
    await expect(cluster.watch({ resumeAfter: slowToken! }).then((c) => c.nextBatch(0))).rejects.toBeInstanceOf(HistoryLostError);
    // A cursor, or a token, that had seen everything carries on.
    expect(await fast.nextBatch(0)).toEqual([]);
    const resumed = await cluster.watch({ resumeAfter: fastToken! });
    await coll.insertOne({ _id: 3 });
    expect((await resumed.nextBatch(0)).map((e) => e.documentKey?._id)).toEqual([new Int32(3)]);
    expect(cluster.changeLogSize()).toBe(1);
  });
});

describe("16 MB limits by server version (finding 10)", () => {
  const MB = 1024 * 1024;
  async function bigUpdateStream(version: string) {
    const cluster = new MemoryCluster({ version });
    const coll = cluster.db("d").collection<Loose>("c");
    await coll.insertOne({ _id: 1, a: "x".repeat(9 * MB) });
    const t0 = await cluster.clusterTime();
    await coll.updateOne({ _id: 1 }, { $set: { a: "y".repeat(9 * MB) } });
    return cluster.watch({ startAtOperationTime: t0!, splitLargeEvents: true });
  }
  async function drain(cursor: Awaited<ReturnType<typeof bigUpdateStream>>) {
    const events = [];
    for (let i = 0; i < 4; i++) events.push(...(await cursor.nextBatch(0)));
    return events;
  }

  // docs: $changeStreamSplitLargeEvent "New in MongoDB 7.0 (and 6.0.9)"; without it the getMore fails.
  test.each(["6.0.8", "6.3.2", "5.0.20"])("%s has no $changeStreamSplitLargeEvent: the ~18 MB event fails with 10334", async (version) => {
    const err = await rejection(drain(await bigUpdateStream(version)));
    expect([err.code, err.codeName]).toEqual([10334, "BSONObjectTooLarge"]);
    expect(err.message).toMatch(/Size must be between 0 and 16793600\(16MB\)/);
  });

  test.each(["6.0.9", "7.0.2", "8.0.4"])("%s splits it into two fragments", async (version) => {
    const events = await drain(await bigUpdateStream(version));
    expect(events.filter((e) => e.splitEvent).map((e) => e.splitEvent)).toEqual([
      { fragment: 1, of: 2 },
      { fragment: 2, of: 2 },
    ]);
  });

  test("an insert over 16 MiB is refused (BadValue, as fixDocumentForInsert) and nothing is logged", async () => {
    const cluster = new MemoryCluster();
    await cluster.db("d").collection<Loose>("c").insertOne({ _id: 0 });
    const before = cluster.changeLogSize();
    const err = await rejection(cluster.db("d").collection<Loose>("c").insertOne({ _id: 1, a: "x".repeat(16 * MB) }));
    expect([err.code, err.message]).toEqual([2, expect.stringMatching(/object to insert too large/)]);
    expect(cluster.changeLogSize()).toBe(before);
  });

  test("an update statement that cannot fit a command body (16 MiB + 16 KiB) is refused with 10334; a 16 MiB one with a small _id is not", async () => {
    const cluster = new MemoryCluster();
    const ns = { db: "d", coll: "c" };
    // A document just under 16 MiB whose 16 KiB `_id` is in the filter too: the statement outgrows the allowance.
    const longId = "k".repeat(16 * 1024);
    const doc = (id: string) => ({ _id: id, s: "x".repeat(16 * MB - 100 - id.length) });
    const err = await rejection(cluster.bulkWrite(ns, [{ replaceOne: { filter: { _id: longId }, replacement: doc(longId), upsert: true } }], true));
    expect([err.code, err.codeName]).toEqual([10334, "BSONObjectTooLarge"]);
    expect(err.message).toMatch(/Size must be between 0 and 16793600\(16MB\)/);
    await cluster.bulkWrite(ns, [{ replaceOne: { filter: { _id: "k" }, replacement: doc("k"), upsert: true } }], true);
    expect(await cluster.countDocuments(ns)).toBe(1);
  });
});

describe("role changes on a sharded cluster reach other mongos after userCacheInvalidationIntervalSecs (finding 5)", () => {
  test("the user keeps its old roles until the interval has passed; usersInfo shows the new ones at once", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const cluster = new MemoryCluster({ topology: "sharded", now: () => now, userCacheInvalidationIntervalSecs: 30 });
    cluster.addUser("app", "admin", [{ role: "readWrite", db: "shop" }]);
    const app = cluster.as("app", "admin").db("shop").collection<Loose>("orders");
    await app.insertOne({ _id: 1 });
    expect(await cluster.userCacheInvalidationSeconds()).toBe(30);
    await cluster.setUserRoles("app", "admin", [{ role: "read", db: "shop" }]);
    expect((await cluster.listUsers()).find((u) => u.user === "app")!.roles).toEqual([{ role: "read", db: "shop" }]);
    now += 29_000;
    await app.insertOne({ _id: 2 }); // still cached as readWrite on the application's mongos
    now += 1_000;
    expect((await rejection(app.insertOne({ _id: 3 }))).code).toBe(13);
  });

  test("a replica set applies role changes at once and reports no interval", async () => {
    const cluster = new MemoryCluster();
    cluster.addUser("app", "admin", [{ role: "readWrite", db: "shop" }]);
    await cluster.setUserRoles("app", "admin", [{ role: "read", db: "shop" }]);
    expect((await rejection(cluster.as("app", "admin").db("shop").collection<Loose>("orders").insertOne({ _id: 1 }))).code).toBe(13);
    expect(await cluster.userCacheInvalidationSeconds()).toBeUndefined();
  });
});

describe("TTL monitor (finding 13)", () => {
  test("deletes expired documents (earliest date of an array) as delete events, even with user writes blocked", async () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const cluster = new MemoryCluster({ now: () => now });
    const s = cluster.db("app").collection<Loose>("sessions");
    await s.createIndex({ at: 1 }, { expireAfterSeconds: 60 });
    await s.insertMany([
      { _id: 1, at: new Date(now) },
      { _id: 2, at: [new Date(now + 600_000), new Date(now - 30_000)] },
      { _id: 3, at: "not a date" },
      { _id: 4, at: new Date(now + 600_000) },
    ]);
    const cursor = await cluster.watch({});
    await cluster.setUserWriteBlocking(true);
    now += 45_000;
    expect(cluster.runTtlMonitor()).toBe(1); // _id 2: its earliest date is 75 s old
    now += 20_000;
    expect(cluster.runTtlMonitor()).toBe(1); // _id 1
    expect((await s.find({}).toArray()).map((d) => d._id)).toEqual([3, 4]);
    expect((await cursor.nextBatch(0)).map((e) => `${e.operationType} ${e.documentKey?._id}`)).toEqual(["delete 2", "delete 1"]);
  });
});

describe("documents held as stored (finding 14)", () => {
  // mongod stores what it is sent: bsonspec.org lists undefined (0x06) and DBPointer (0x0C) as deprecated, not
  // refused; docs core/document "Field Names": BSON documents may hold duplicate field names. scanStored (find with
  // `raw: true`) gives those bytes back; scan decodes them as the driver does (DBPointer as a DBRef).
  test("DBPointer, duplicate names, DBRef field order and undefined come back from scanStored byte for byte", async () => {
    const cluster = new MemoryCluster();
    const docs = [
      rawDocument(el.int32("_id", 1), el.dbPointer("p", "shop.users", POINTED)),
      rawDocument(el.int32("_id", 2), el.string("a", "first"), el.string("a", "second")),
      rawDocument(el.int32("_id", 3), el.document("ref", rawDocument(el.objectId("$id", POINTED), el.string("$ref", "users")))),
      rawDocument(el.int32("_id", 4), el.undefined("u")),
    ];
    for (const d of docs) cluster.insertRawBson("shop", "legacy", d);
    const stored: Buffer[] = [];
    for await (const batch of cluster.scanStored({ db: "shop", coll: "legacy" }, {}, 10)) stored.push(...batch.map((b) => Buffer.from(b)));
    expect(stored.map((b) => b.toString("hex"))).toEqual(docs.map((d) => d.toString("hex")));
    const [decoded] = await cluster.scan({ db: "shop", coll: "legacy" }, {}, 1)[Symbol.asyncIterator]().next().then((r) => r.value!);
    expect((decoded.p as { _bsontype: string })._bsontype).toBe("DBRef");
  });

  // mongod keeps the bytes of fields an update does not touch; this double updates a js-bson decoding, so it refuses
  // an update operator on such a document rather than rewrite the DBPointer (or undefined) behind the test's back.
  test("an update operator on a document holding a DBPointer is refused, naming why; a replacement is fine", async () => {
    const cluster = new MemoryCluster();
    cluster.insertRawBson("shop", "legacy", rawDocument(el.int32("_id", 1), el.dbPointer("p", "shop.users", POINTED)));
    const legacy = cluster.db("shop").collection<Loose>("legacy");
    const err = await rejection(legacy.updateOne({ _id: 1 }, { $set: { x: 1 } }));
    expect(err.message).toMatch(/cannot apply update operators to a document of shop\.legacy that holds the deprecated BSON DBPointer type at "p"/);
    await legacy.replaceOne({ _id: 1 }, { x: 2 });
    expect(await legacy.findOne({ _id: 1 })).toEqual({ _id: 1, x: 2 }); // driver-style promotion on this API
  });
});

describe("event fields by server version (finding 14)", () => {
  /** Events of a few DDL and CRUD writes, as a stream on `version` shows them. */
  async function eventsOn(version: string) {
    const cluster = new MemoryCluster({ version });
    const t0 = await cluster.clusterTime();
    const coll = cluster.db("d").collection<Loose>("c");
    await coll.insertOne({ _id: 1, at: new Date(0) });
    await cluster.createIndexes({ db: "d", coll: "c" }, [{ name: "at_1", key: { at: 1 }, options: { expireAfterSeconds: 60 } }]);
    await cluster.setIndexExpiry({ db: "d", coll: "c" }, "at_1", 120);
    await cluster.db("d").collection("c").dropIndex("at_1");
    await cluster.withTransaction(async () => void (await coll.insertOne({ _id: 2 })));
    await cluster.dropDatabase("d");
    const cursor = await cluster.watch({ startAtOperationTime: t0! });
    const events = await cursor.nextBatch(0);
    await cursor.close();
    return events;
  }

  // 6.0+: expanded DDL events with operationDescription (docs: change-events; the collMod and dropIndexes oplog
  // entries' `o`/`o2`, change_stream_event_transform.cpp), collectionUUID except on dropDatabase, wallTime always;
  // transactions' events carry lsid and txnNumber; endOfTransaction from 8.0.
  test.each(["6.0.4", "7.0.14", "8.0.4"])("%s", async (version) => {
    const events = await eventsOn(version);
    expect(events.map((e) => e.operationType)).toEqual([
      "create",
      "insert",
      "createIndexes",
      "modify",
      "dropIndexes",
      "insert",
      ...(version.startsWith("8") ? ["endOfTransaction"] : []),
      "drop",
      "dropDatabase",
    ]);
    const by = (type: string) => events.find((e) => e.operationType === type)!;
    // Numbers as the driver reads them with promoteValues off (Int32), as every ClusterPort delivers events.
    const int = (n: number) => new Int32(n);
    expect(by("create").operationDescription).toEqual({ idIndex: { v: int(2), key: { _id: int(1) }, name: "_id_" } });
    expect(by("modify").operationDescription).toEqual({ index: { name: "at_1", expireAfterSeconds: int(120) } });
    expect(by("dropIndexes").operationDescription).toEqual({ indexes: [{ v: int(2), key: { at: int(1) }, name: "at_1", expireAfterSeconds: int(120) }] });
    const withUuid = events.filter((e) => e.collectionUUID).map((e) => e.operationType);
    expect(withUuid).toEqual(events.map((e) => e.operationType).filter((t) => t !== "dropDatabase" && t !== "endOfTransaction"));
    expect(events.every((e) => e.wallTime instanceof Date)).toBe(true);
    const txn = events.filter((e) => (e as { lsid?: unknown }).lsid !== undefined).map((e) => e.operationType);
    expect(txn).toEqual(["insert", ...(version.startsWith("8") ? ["endOfTransaction"] : [])]);
  });

  // 5.0: no showExpandedEvents (create, createIndexes, modify, dropIndexes are not shown), no collectionUUID, no wallTime.
  test("5.0.20", async () => {
    const events = await eventsOn("5.0.20");
    expect(events.map((e) => e.operationType)).toEqual(["insert", "insert", "drop", "dropDatabase"]);
    expect(events.every((e) => e.collectionUUID === undefined && e.wallTime === undefined && e.operationDescription === undefined)).toBe(true);
  });
});
