// The conformance suite every ClusterPort must pass. It runs on MemoryCluster always (memory.test.ts) and on
// MongoClusterPort against a real mongod replica set where one can be started (mongo.test.ts), so the engine's
// offline tests over MemoryCluster carry over to real servers.
//
// Expectations are written out literally (the `_id` order table, the BSON types) rather than computed with
// our own comparison code, so a port that shares a bug with the helpers still fails.

import {
  BSON,
  Binary,
  BSONRegExp,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  type Document,
} from "mongodb";
import { HistoryLostError } from "../../provider/errors";
import {
  CHECKPOINT_DATABASE,
  type ChangeCursor,
  type ChangeEvent,
  type ClusterPort,
  type IdRange,
  type Namespace,
  type ScanBatch,
  type WriteOperation,
  splitsLargeChangeEvents,
} from "../../provider/cluster/port";

const MB = 1024 * 1024;

/** The few driver Collection methods the suite seeds and checks data with (driver and MemoryCollection). */
export interface SeedCollection {
  insertOne(doc: Document): Promise<unknown>;
  insertMany(docs: Document[], options?: { forceServerObjectId?: boolean }): Promise<unknown>;
  updateOne(filter: Document, update: Document, options?: { upsert?: boolean }): Promise<unknown>;
  replaceOne(filter: Document, replacement: Document): Promise<unknown>;
  deleteOne(filter: Document): Promise<unknown>;
  countDocuments(filter?: Document): Promise<number>;
  createIndex(keys: Document, options?: Document): Promise<string>;
  aggregate(pipeline: Document[]): { toArray(): Promise<Document[]> };
}

export interface ConformanceSubject {
  port: ClusterPort;
  /** The same deployment through the driver-shaped collection API (an application's writes). */
  collection(db: string, coll: string): SeedCollection;
  /**
   * A connection (port and driver-shaped collections) authenticated as a new user holding the given built-in
   * roles, where the deployment runs with access control; absent where it does not.
   */
  asUser?: (user: string, roles: Array<{ role: string; db: string }>) => Promise<{ port: ClusterPort; collection(db: string, coll: string): SeedCollection }>;
  /** Drops change history older than now (oplog rollover), where the port's backing store allows it. */
  truncateHistory?: () => Promise<void>;
  /** Cleans up after the suite. */
  dispose(): Promise<void>;
}

export interface ConformanceCapabilities {
  /** The deployment supports setUserWriteBlockMode (6.0+ replica set / sharded). */
  writeBlocking: boolean;
  /** `truncateHistory` is available. */
  truncation: boolean;
  /** The deployment runs with access control and the subject offers `asUser`. */
  accessControl: boolean;
  /**
   * What the deployment lacks, each with the answer of the probe that found out (provider/cluster/capabilities.ts
   * or a storage probe). A test that needs one is skipped with that answer in its title; absent = supported.
   */
  lacks?: Partial<Record<ConformanceNeed, string>>;
}

/** Things a conformance test may need beyond the basic CRUD and catalog commands. */
export type ConformanceNeed =
  | "changeStreams" // $changeStream over the deployment, and a cluster time to start it from
  | "userWriteBlocking" // setUserWriteBlockMode
  | "minMaxKeys" // MinKey/MaxKey values
  | "decimal128"
  | "nestedArrays" // arrays inside arrays
  | "negativeZero" // Double -0 kept apart from 0
  | "validators" // createCollection { validator }
  | "collations" // createCollection { collation }
  | "views" // createCollection { viewOn, pipeline }
  | "cappedCollections" // createCollection { capped, size, max }
  | "ttlIndexes" // indexes with expireAfterSeconds
  | "infinity" // Double ±Infinity values
  | "timeseries" // createCollection { timeseries }
  | "dollarFields" // top-level $-prefixed field names in stored documents (MongoDB 5.0+)
  | "documentSizeLimit" // an update whose result exceeds 16 MiB is refused (17419)
  | "indexBounds"; // find honours min/max on the `_id` index (else MongoClusterPort.splitPoints gives one range)

const ORDER_DB_PREFIX = "conf_";
let dbCounter = 0;

/** A fresh database name per test, so tests never see each other's data or events. */
function freshDb(label: string): string {
  dbCounter += 1;
  return `${ORDER_DB_PREFIX}${label}_${process.pid}_${dbCounter}`;
}

async function scanAll(port: ClusterPort, ns: Namespace, range: IdRange, batchSize: number): Promise<Document[][]> {
  const batches: Document[][] = [];
  for await (const batch of port.scan(ns, range, batchSize)) batches.push(batch);
  return batches;
}

function flat(batches: Document[][]): Document[] {
  return batches.flat();
}

/** A stable, type-revealing description of a BSON value: `Int32(3)`, `Long(3)`, `Double(1)`, `"a"`, … */
function show(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "boolean" || typeof value === "number") return `${typeof value}(${value})`;
  if (value instanceof Date) return `Date(${value.getTime()})`;
  if (Array.isArray(value)) return `[${value.map(show).join(",")}]`;
  const tag = (value as { _bsontype?: string })._bsontype;
  switch (tag) {
    case "Int32":
    case "Double":
      return `${tag}(${(value as { value: number }).value})`;
    case "Long":
    case "Decimal128":
      return `${tag}(${String(value)})`;
    case "ObjectId":
      return `ObjectId(${(value as ObjectId).toHexString()})`;
    case "Binary": {
      const b = value as Binary;
      return `Binary(${b.sub_type},${Buffer.from(b.buffer.subarray(0, b.position)).toString("hex")})`;
    }
    case "Timestamp": {
      const t = value as Timestamp;
      return `Timestamp(${t.high >>> 0},${t.low >>> 0})`;
    }
    case "BSONRegExp": {
      const r = value as BSONRegExp;
      return `BSONRegExp(${r.pattern}/${r.options})`;
    }
    case "MinKey":
    case "MaxKey":
      return tag;
  }
  if (tag === undefined && typeof value === "object") {
    return `{${Object.entries(value as Document).map(([k, v]) => `${k}:${show(v)}`).join(",")}}`;
  }
  return `${tag}(?)`;
}

function ids(docs: Document[]): string[] {
  return docs.map((d) => show(d._id));
}

/** Reads events for `db` until `enough(events)` holds (or the rounds run out); CRUD and DDL alike. */
async function collectEvents(
  cursor: ChangeCursor,
  db: string,
  enough: (events: ChangeEvent[]) => boolean,
  rounds = 40,
): Promise<ChangeEvent[]> {
  const events: ChangeEvent[] = [];
  for (let i = 0; i < rounds && !enough(events); i++) {
    const batch = await cursor.nextBatch(250);
    events.push(...batch.filter((e) => e.ns?.db === db));
  }
  return events;
}

/** Enough once `n` events of the given operation types have arrived. */
function atLeast(n: number, ...types: string[]): (events: ChangeEvent[]) => boolean {
  const wanted = new Set(types.length > 0 ? types : ["insert", "update", "replace", "delete"]);
  return (events) => events.filter((e) => wanted.has(e.operationType)).length >= n;
}

const CRUD = new Set(["insert", "update", "replace", "delete"]);

function crud(events: ChangeEvent[]): string[] {
  return events.filter((e) => CRUD.has(e.operationType)).map((e) => `${e.operationType} ${e.ns?.coll} ${show(e.documentKey?._id)}`);
}

async function expectCode(promise: Promise<unknown>, codes: number[]): Promise<Error & { code?: number }> {
  let caught: (Error & { code?: number }) | undefined;
  try {
    await promise;
  } catch (err) {
    caught = err as Error & { code?: number };
  }
  expect(caught).toBeDefined();
  expect(codes).toContain(caught!.code);
  return caught!;
}

async function expectHistoryLost(action: () => Promise<unknown>): Promise<void> {
  let caught: unknown;
  try {
    await action();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(HistoryLostError);
}

// `_id`s of every type that may be an `_id`, in MongoDB's documented sort order. Written out by hand. Values of a
// type the deployment cannot store (MinKey/MaxKey, Decimal128 on FerretDB) are left out of the list, not the test.
function orderedIds(lacks: Partial<Record<ConformanceNeed, string>>): unknown[] {
  const storable = (v: unknown): boolean => {
    const tag = (v as { _bsontype?: string } | null)?._bsontype;
    if ((tag === "MinKey" || tag === "MaxKey") && lacks.minMaxKeys) return false;
    if (tag === "Decimal128" && lacks.decimal128) return false;
    if (tag === "Double" && !Number.isFinite((v as Double).value) && lacks.infinity) return false;
    return true;
  };
  return [
    new MinKey(),
    null,
    new Double(-Infinity),
    new Int32(-5),
    new Double(2.5),
    new Long(3),
    new Decimal128("3.5"),
    new Int32(10),
    new Double(9007199254740992), // 2^53
    new Long("9007199254740993"), // 2^53 + 1: only exact comparison tells it from the Double 2^53 above
    new Double(9007199254740994),
    "",
    "A",
    "a",
    "ab",
    "b",
    "é", // UTF-8 bytes C3 A9 sort after ASCII
    { a: new Int32(1) },
    { a: new Int32(1), b: new Int32(0) },
    { a: new Int32(2) },
    { b: new Int32(0) },
    new Binary(Buffer.from([9]), 0), // Binary: shorter first,
    new Binary(Buffer.from([1, 2]), 0), // then by subtype,
    new Binary(Buffer.from([0, 0]), 5), // then by bytes
    new ObjectId("000000000000000000000001"),
    new ObjectId("ffffffffffffffffffffffff"),
    false,
    true,
    new Date(-1000),
    new Date(0),
    new Date(5000),
    new Timestamp({ t: 1, i: 5 }),
    new Timestamp({ t: 2, i: 0 }),
    new MaxKey(),
  ].filter(storable);
}

function shuffled<T>(items: T[]): T[] {
  // A fixed permutation (no randomness in tests): interleave from both ends.
  const out: T[] = [];
  for (let lo = 0, hi = items.length - 1; lo <= hi; lo++, hi--) {
    out.push(items[hi]);
    if (lo !== hi) out.push(items[lo]);
  }
  return out;
}

export function runClusterPortConformance(
  name: string,
  factory: () => Promise<ConformanceSubject>,
  capabilities: ConformanceCapabilities,
): void {
  describe(`ClusterPort conformance: ${name}`, () => {
    let subject: ConformanceSubject;
    let port: ClusterPort;
    const lacks: Partial<Record<ConformanceNeed, string>> = {
      ...(capabilities.writeBlocking ? {} : { userWriteBlocking: "declared unsupported by the suite's caller" }),
      ...capabilities.lacks,
    };
    /** `test` when the deployment has everything listed, else `test.skip` with the probe's answer in the title. */
    const needs = (...wanted: ConformanceNeed[]) => {
      const missing = wanted.filter((n) => lacks[n] !== undefined);
      if (missing.length === 0) return test;
      const why = missing.map((n) => `${n}: ${lacks[n]}`).join("; ");
      return (title: string, fn: () => Promise<void>) => test.skip(`${title} [skipped, lacks ${why}]`, fn);
    };

    beforeAll(async () => {
      subject = await factory();
      port = subject.port;
    });

    afterAll(async () => {
      await subject?.dispose();
    });

    // ---- ordering -----------------------------------------------------------------------------------

    test("scan returns every document once, in BSON _id order across types, in bounded batches", async () => {
      const db = freshDb("order");
      const ns = { db, coll: "mixed" };
      const expected = orderedIds(lacks);
      // Inserted in descending order, so an order that merely keeps insertion order (or a stable sort with a
      // comparison that calls distinct values equal) shows up.
      // forceServerObjectId: the driver otherwise replaces an `_id: null` with a new ObjectId before sending.
      await subject.collection(db, "mixed").insertMany([...expected].reverse().map((id, n) => ({ _id: id, n })), { forceServerObjectId: true });
      const batches = await scanAll(port, ns, {}, 4);
      expect(batches.every((b) => b.length >= 1 && b.length <= 4)).toBe(true);
      expect(ids(flat(batches))).toEqual(expected.map(show));
      // Iterating the same scan again starts over.
      const scan = port.scan(ns, {}, 10);
      for (let pass = 0; pass < 2; pass++) {
        const seen: Document[] = [];
        for await (const batch of scan) seen.push(...batch);
        expect(seen).toHaveLength(expected.length);
      }
    });

    // ScanBatch.last (port.ts): a batch shorter than asked for ends the pass, and only such a batch says so (the
    // copier stops reading there, so a port marking a full batch last would lose the rest of the range).
    test("scan marks a batch shorter than asked for as the last, never a batch with more to follow", async () => {
      const db = freshDb("last");
      const ns = { db, coll: "items" };
      await subject.collection(db, "items").insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: i })));
      for (const [range, size, lengths] of [
        [{}, 4, [4, 4, 2]],
        [{ after: 2 }, 3, [3, 3, 1]],
        [{ from: 1, before: 7 }, 4, [4, 2]],
      ] as Array<[IdRange, number, number[]]>) {
        const batches = await scanAll(port, ns, range, size);
        expect(batches.map((b) => b.length)).toEqual(lengths);
        const marks = batches.map((b) => (b as ScanBatch).last === true);
        // Only the final batch may carry it; a port that knows the end (all of ours) marks the short one.
        expect(marks.slice(0, -1).every((m) => !m)).toBe(true);
        expect(marks[marks.length - 1]).toBe(true);
      }
    });

    test("scan ranges: `after` exclusive (numerically, any numeric type), `from` inclusive, `before` exclusive", async () => {
      const db = freshDb("range");
      const ns = { db, coll: "mixed" };
      const expected = orderedIds(lacks);
      await subject.collection(db, "mixed").insertMany(expected.map((id) => ({ _id: id })), { forceServerObjectId: true });
      const all = expected.map(show);
      const at = (d: string): number => all.indexOf(d);

      // after Int32(3) excludes the stored Long(3): `_id` equality is numeric.
      const afterThree = ids(flat(await scanAll(port, ns, { after: new Int32(3) }, 5)));
      expect(afterThree).toEqual(all.slice(at("Long(3)") + 1));

      // from Double(3) includes Long(3).
      const fromThree = ids(flat(await scanAll(port, ns, { from: new Double(3) }, 5)));
      expect(fromThree).toEqual(all.slice(at("Long(3)")));

      // A range crossing type boundaries: numbers → strings → objects → binaries, up to an ObjectId.
      const crossing = ids(flat(await scanAll(port, ns, { after: new Int32(10), before: new ObjectId("000000000000000000000001") }, 3)));
      expect(crossing).toEqual(all.slice(at("Int32(10)") + 1, at("ObjectId(000000000000000000000001)")));

      // `after` wins over `from`; an empty range yields no batch at all.
      const afterWins = ids(flat(await scanAll(port, ns, { after: "b", from: null }, 50)));
      expect(afterWins[0]).toBe(JSON.stringify("é"));
      expect(await scanAll(port, ns, { after: "b", before: "é" }, 10)).toEqual([]);
      expect(await scanAll(port, { db, coll: "absent" }, {}, 10)).toEqual([]);
    });

    needs("indexBounds")("splitPoints cut the collection into ranges that cover every document exactly once", async () => {
      const db = freshDb("split");
      const ns = { db, coll: "docs" };
      const docs: Document[] = [];
      for (let i = 0; i < 60; i++) docs.push({ _id: new Int32(i * 7) });
      for (let i = 0; i < 40; i++) docs.push({ _id: `key-${String(i).padStart(3, "0")}` });
      for (let i = 0; i < 20; i++) docs.push({ _id: new ObjectId(`${"0".repeat(22)}${i.toString(16).padStart(2, "0")}`) });
      await subject.collection(db, "docs").insertMany(shuffled(docs));

      const points = await port.splitPoints(ns, 5);
      expect(points.length).toBeGreaterThanOrEqual(3);
      expect(points.length).toBeLessThanOrEqual(4);
      const bounds: Array<unknown | undefined> = [undefined, ...points, undefined];
      const seen: string[] = [];
      for (let i = 0; i + 1 < bounds.length; i++) {
        const range: IdRange = {};
        if (bounds[i] !== undefined) range.from = bounds[i];
        if (bounds[i + 1] !== undefined) range.before = bounds[i + 1];
        const part = ids(flat(await scanAll(port, ns, range, 16)));
        expect(part.length).toBeGreaterThan(0);
        // Roughly equal parts: none holds more than half of the collection.
        expect(part.length).toBeLessThan(60);
        seen.push(...part);
      }
      const everything = ids(flat(await scanAll(port, ns, {}, 1000)));
      expect(seen).toEqual(everything);
      expect(everything).toHaveLength(120);
      expect(await port.splitPoints(ns, 1)).toEqual([]);
    });

    test("lastId is the greatest _id in scan order (across types), undefined for an empty or absent collection", async () => {
      const db = freshDb("last");
      const ns = { db, coll: "mixed" };
      expect(await port.lastId(ns)).toBeUndefined();
      const expected = orderedIds(lacks);
      await subject.collection(db, "mixed").insertMany(shuffled(expected.map((id) => ({ _id: id }))), { forceServerObjectId: true });
      const scanned = flat(await scanAll(port, ns, {}, 50));
      expect(show(await port.lastId(ns))).toBe(show(scanned[scanned.length - 1]._id));
      await subject.collection(db, "empty").insertOne({ _id: 1 });
      await subject.collection(db, "empty").deleteOne({ _id: 1 });
      expect(await port.lastId({ db, coll: "empty" })).toBeUndefined();
    });

    // ---- writes ---------------------------------------------------------------------------------------

    test("bulkWrite: counts are exact and replaying upsert/replace/delete by key changes nothing", async () => {
      const db = freshDb("bulk");
      const ns = { db, coll: "c" };
      await subject.collection(db, "c").insertMany([{ _id: 1, v: "old" }, { _id: 2, v: "gone" }]);
      const ops = [
        { replaceOne: { filter: { _id: 1 }, replacement: { _id: 1, v: "new" }, upsert: true } },
        { replaceOne: { filter: { _id: 3 }, replacement: { _id: 3, v: "upserted" }, upsert: true } },
        { deleteOne: { filter: { _id: 2 } } },
        { insertOne: { document: { _id: 4, v: "inserted" } } },
      ];
      const first = await port.bulkWrite(ns, ops, true);
      expect(first).toEqual({ inserted: 1, upserted: 1, matched: 1, modified: 1, deleted: 1 });
      const replay = await port.bulkWrite(ns, ops.slice(0, 3), true);
      expect(replay).toEqual({ inserted: 0, upserted: 0, matched: 2, modified: 0, deleted: 0 });
      const docs = flat(await scanAll(port, ns, {}, 10));
      expect(docs.map((d) => [show(d._id), d.v])).toEqual([
        ["Int32(1)", "new"],
        ["Int32(3)", "upserted"],
        ["Int32(4)", "inserted"],
      ]);
      expect(await port.countDocuments(ns)).toBe(3);
    });

    test("bulkWrite stores an `_id: null` document as it is, without inventing an ObjectId or touching the op", async () => {
      const db = freshDb("nullid");
      const ns = { db, coll: "c" };
      const document = { _id: null, v: 1 };
      await port.bulkWrite(ns, [{ insertOne: { document } }], true);
      expect(document._id).toBeNull();
      expect(ids(flat(await scanAll(port, ns, {}, 10)))).toEqual(["null"]);
      expect((await port.findById(ns, null))?.v).toEqual(new Int32(1));
    });

    test("bulkWrite ordered stops at the first error; unordered applies the rest; both report code 11000", async () => {
      const db = freshDb("bulkerr");
      const ns = { db, coll: "c" };
      await subject.collection(db, "c").insertOne({ _id: 1 });
      const ops = [
        { insertOne: { document: { _id: new Double(1.0) } } }, // same `_id` as Int32 1
        { insertOne: { document: { _id: 2 } } },
      ];
      await expectCode(port.bulkWrite(ns, ops, true), [11000]);
      expect(await port.findById(ns, 2)).toBeNull();
      await expectCode(port.bulkWrite(ns, ops, false), [11000]);
      expect(await port.findById(ns, 2)).not.toBeNull();
    });

    test("unique indexes (single, compound, and on existing data) reject duplicates with code 11000", async () => {
      const db = freshDb("unique");
      const ns = { db, coll: "users" };
      await port.createIndexes(ns, [
        { name: "email_1", key: { email: 1 }, options: { unique: true } },
        { name: "a_1_b_1", key: { a: 1, b: 1 }, options: { unique: true } },
      ]);
      await port.bulkWrite(ns, [{ insertOne: { document: { _id: 1, email: "x@example.com", a: 1, b: 1 } } }], true);
      await expectCode(port.bulkWrite(ns, [{ insertOne: { document: { _id: 2, email: "x@example.com" } } }], true), [11000]);
      // A replace that would collide also fails, and leaves the document as it was.
      await port.bulkWrite(ns, [{ insertOne: { document: { _id: 3, email: "y@example.com", a: 1, b: 2 } } }], true);
      await expectCode(
        port.bulkWrite(ns, [{ replaceOne: { filter: { _id: 3 }, replacement: { email: "y@example.com", a: 1, b: 1 } } }], true),
        [11000],
      );
      expect((await port.findById(ns, 3))?.b).toEqual(new Int32(2));
      // Compound: only the full key collides.
      await port.bulkWrite(ns, [{ insertOne: { document: { _id: 4, email: "z@example.com", a: 2, b: 1 } } }], true);
      await expectCode(subject.collection(db, "users").insertOne({ _id: 5, email: "w@example.com", a: 2, b: 1 }), [11000]);
      // A unique index over data that already has duplicates cannot be built.
      const dupNs = { db, coll: "dups" };
      await subject.collection(db, "dups").insertMany([{ _id: 1, k: "same" }, { _id: 2, k: "same" }]);
      await expectCode(port.createIndexes(dupNs, [{ name: "k_1", key: { k: 1 }, options: { unique: true } }]), [11000]);
      expect(await port.countDocuments(ns)).toBe(3);
    });

    test("findById matches `_id` numerically and returns null when absent", async () => {
      const db = freshDb("find");
      const ns = { db, coll: "c" };
      await subject.collection(db, "c").insertOne({ _id: new Long(42), v: 1 });
      const found = await port.findById(ns, new Int32(42));
      expect(show(found?._id)).toBe("Long(42)");
      expect(await port.findById(ns, 43)).toBeNull();
      expect(await port.findById({ db, coll: "absent" }, 1)).toBeNull();
    });

    // ---- BSON fidelity ----------------------------------------------------------------------------------

    test("BSON types round-trip exactly through bulkWrite, scan, findById and change events", async () => {
      const db = freshDb("types");
      const ns = { db, coll: "c" };
      const uuidBytes = Buffer.from("0123456789abcdef0123456789abcdef", "hex");
      // Fields of a type the deployment cannot store are left out (and named in the skip list of the report).
      const original: Document = {
        _id: new Long("9007199254740993"),
        long: new Long(5),
        doubleOne: new Double(1.0),
        int: new Int32(1),
        ...(lacks.negativeZero ? {} : { negZero: new Double(-0) }),
        ...(lacks.decimal128 ? {} : { decimal: Decimal128.fromString("1.10") }),
        regex: new BSONRegExp("^a.b$", "imsx"),
        uuid: new Binary(uuidBytes, 4),
        userBinary: new Binary(Buffer.from([1, 2, 3]), 0x80),
        ts: new Timestamp({ t: 5, i: 7 }),
        date: new Date(1_700_000_000_123),
        nested: lacks.nestedArrays
          ? [{ a: [new Int32(1), new Long(2)] }, { d: new Double(2) }, { e: [] }]
          : [[new Int32(1), new Long(2)], [{ d: new Double(2) }], []],
        nothing: null,
        ...(lacks.minMaxKeys ? {} : { min: new MinKey(), max: new MaxKey() }),
        str: "tëxt",
      };
      const t0 = await port.clusterTime();
      await port.bulkWrite(ns, [{ insertOne: { document: original } }], true);
      const expected = show(original);

      const [scanned] = flat(await scanAll(port, ns, {}, 10));
      expect(show(scanned)).toBe(expected);
      expect(Object.keys(scanned)).toEqual(Object.keys(original));
      expect(show(await port.findById(ns, original._id))).toBe(expected);

      if (lacks.changeStreams === undefined) {
        expect(t0).toBeInstanceOf(Timestamp);
        const cursor = await port.watch({ startAtOperationTime: t0! });
        try {
          const [insert] = (await collectEvents(cursor, db, atLeast(1, "insert"))).filter((e) => e.operationType === "insert");
          expect(show(insert.fullDocument)).toBe(expected);
          expect(show(insert.documentKey?._id)).toBe("Long(9007199254740993)");
        } finally {
          await cursor.close();
        }
      }
    });

    // ---- stored bytes (issue 8, finding 14) -------------------------------------------------------------
    // What verification hashes: each document's BSON as the server stores it (find with `raw: true`). mongod keeps
    // the fields in the order written, `_id` moved first on insert (src/mongo/db/ops/insert.cpp,
    // fixDocumentForInsert), and never reorders them on a replacement.

    test("scanStored gives each document's stored bytes: fields as written, _id first, in _id order; scan's `stored` agrees", async () => {
      const db = freshDb("stored");
      const ns = { db, coll: "docs" };
      const app = subject.collection(db, "docs");
      await app.insertOne({ b: 2, _id: 1, a: { z: 1, y: [true, null] } });
      await app.insertOne({ _id: 2, n: { k: 7, j: "x" } });
      await app.replaceOne({ _id: 1 }, { y: "later", x: 1 });
      const expected = [
        BSON.serialize({ _id: new Int32(1), y: "later", x: new Int32(1) }),
        BSON.serialize({ _id: new Int32(2), n: { k: new Int32(7), j: "x" } }),
      ].map((b) => Buffer.from(b).toString("hex"));
      const stored: string[] = [];
      for await (const batch of port.scanStored(ns, {}, 1)) {
        expect(batch).toHaveLength(1);
        stored.push(...batch.map((b) => Buffer.from(b).toString("hex")));
      }
      expect(stored).toEqual(expected);
      for await (const batch of port.scan(ns, {}, 10)) {
        if (batch.stored) expect(batch.stored.map((b) => Buffer.from(b).toString("hex"))).toEqual(expected);
      }
      const after: string[] = [];
      for await (const batch of port.scanStored(ns, { after: new Double(1) }, 10)) after.push(...batch.map((b) => Buffer.from(b).toString("hex")));
      expect(after).toEqual([expected[1]]);
    });

    // ---- change streams ---------------------------------------------------------------------------------

    needs("changeStreams")("a stream from a pre-copy time sees every later write, in order, with updateLookup documents", async () => {
      const db = freshDb("stream");
      const app = subject.collection(db, "orders");
      await app.insertOne({ _id: "before-1", v: 0 });
      await app.insertOne({ _id: "before-2", v: 0 });
      const t0 = await port.clusterTime();
      expect(t0).toBeInstanceOf(Timestamp);

      await app.insertOne({ _id: "a", v: 1 });
      await app.updateOne({ _id: "a" }, { $set: { v: 2 } });
      await app.replaceOne({ _id: "before-1" }, { v: 10 });
      await app.deleteOne({ _id: "before-2" });
      await subject.collection(db, "other").insertOne({ _id: 1 });
      await app.updateOne({ _id: "a" }, { $set: { v: 3 }, $unset: { gone: "" } });

      const cursor = await port.watch({ startAtOperationTime: t0! });
      try {
        // The start is inclusive: the last write before t0 (`before-2`'s insert) may be replayed; `before-1`,
        // written earlier still, never is.
        const afterStart = (events: ChangeEvent[]): ChangeEvent[] =>
          events.filter((e) => CRUD.has(e.operationType) && !(e.operationType === "insert" && e.documentKey?._id === "before-2"));
        const events = afterStart(await collectEvents(cursor, db, (all) => afterStart(all).length >= 6));
        expect(crud(events)).toEqual([
          'insert orders "a"',
          'update orders "a"',
          'replace orders "before-1"',
          'delete orders "before-2"',
          "insert other Int32(1)",
          'update orders "a"',
        ]);
        const crudEvents = events;
        // updateLookup: both updates show the document as it is now (v: 3).
        expect(crudEvents[1].fullDocument?.v).toEqual(new Int32(3));
        expect(crudEvents[1].updateDescription?.updatedFields).toEqual({ v: new Int32(2) });
        expect(crudEvents[2].fullDocument).toEqual({ _id: "before-1", v: new Int32(10) });
        expect(crudEvents[3].fullDocument ?? null).toBeNull();
        // Cluster times strictly increase.
        for (let i = 1; i < crudEvents.length; i++) {
          expect(crudEvents[i].clusterTime.greaterThan(crudEvents[i - 1].clusterTime)).toBe(true);
        }
        expect(crudEvents[0].clusterTime.greaterThan(t0!) || crudEvents[0].clusterTime.equals(t0!)).toBe(true);
      } finally {
        await cursor.close();
      }
    });

    needs("changeStreams")("updateLookup gives null for a document deleted since the update", async () => {
      const db = freshDb("lookup");
      const app = subject.collection(db, "c");
      await app.insertOne({ _id: 1, v: 1 });
      const t0 = await port.clusterTime();
      await app.updateOne({ _id: 1 }, { $inc: { v: 1 } });
      await app.deleteOne({ _id: 1 });
      const cursor = await port.watch({ startAtOperationTime: t0! });
      try {
        // (The insert just before t0 may be replayed by the inclusive start; it is not what this test is about.)
        const events = (await collectEvents(cursor, db, atLeast(2, "update", "delete"))).filter(
          (e) => e.operationType === "update" || e.operationType === "delete",
        );
        expect(events.map((e) => e.operationType)).toEqual(["update", "delete"]);
        expect(events[0].fullDocument ?? null).toBeNull();
        expect(events[0].documentKey).toEqual({ _id: new Int32(1) });
      } finally {
        await cursor.close();
      }
    });

    needs("changeStreams")("drop, rename (with `to`), createIndexes and dropDatabase appear as events, in order", async () => {
      const db = freshDb("ddl");
      const app = subject.collection(db, "a");
      await app.insertOne({ _id: 1 });
      await subject.collection(db, "b").insertOne({ _id: 1 });
      const t0 = await port.clusterTime();
      await port.createIndexes({ db, coll: "a" }, [{ name: "x_1", key: { x: 1 }, options: {} }]);
      await port.renameCollection({ db, coll: "a" }, { db, coll: "a2" }, false);
      await port.dropCollection({ db, coll: "b" });
      await port.dropDatabase(db);
      const cursor = await port.watch({ startAtOperationTime: t0! });
      try {
        const events = await collectEvents(cursor, db, atLeast(1, "dropDatabase"));
        const kinds = events.map((e) => e.operationType).filter((k) => ["createIndexes", "rename", "drop", "dropDatabase"].includes(k));
        expect(kinds).toEqual(["createIndexes", "rename", "drop", "drop", "dropDatabase"]);
        const rename = events.find((e) => e.operationType === "rename")!;
        expect(rename.ns).toEqual({ db, coll: "a" });
        expect(rename.to).toEqual({ db, coll: "a2" });
        const drops = events.filter((e) => e.operationType === "drop").map((e) => e.ns?.coll);
        expect(drops[0]).toBe("b");
        expect(drops[1]).toBe("a2");
      } finally {
        await cursor.close();
      }
    });

    needs("changeStreams")("resuming after an event's token gives exactly the events after it", async () => {
      const db = freshDb("resume");
      const app = subject.collection(db, "c");
      const t0 = await port.clusterTime();
      for (let i = 1; i <= 5; i++) await app.insertOne({ _id: i });
      const cursor = await port.watch({ startAtOperationTime: t0! });
      const events = (await collectEvents(cursor, db, atLeast(5, "insert"))).filter((e) => e.operationType === "insert");
      await cursor.close();
      expect(events.map((e) => show(e.documentKey?._id))).toEqual(["Int32(1)", "Int32(2)", "Int32(3)", "Int32(4)", "Int32(5)"]);

      const resumed = await port.watch({ resumeAfter: events[1]._id });
      try {
        const after = (await collectEvents(resumed, db, atLeast(3))).filter((e) => CRUD.has(e.operationType));
        expect(after.map((e) => show(e.documentKey?._id))).toEqual(["Int32(3)", "Int32(4)", "Int32(5)"]);
      } finally {
        await resumed.close();
      }
    });

    needs("changeStreams")("startAtOperationTime is inclusive: starting at an event's cluster time replays that event first", async () => {
      const db = freshDb("inclusive");
      const app = subject.collection(db, "c");
      const t0 = await port.clusterTime();
      for (let i = 1; i <= 3; i++) await app.insertOne({ _id: i });
      const cursor = await port.watch({ startAtOperationTime: t0! });
      const inserts = (await collectEvents(cursor, db, atLeast(3, "insert"))).filter((e) => e.operationType === "insert");
      await cursor.close();
      const fromSecond = await port.watch({ startAtOperationTime: inserts[1].clusterTime });
      try {
        const events = (await collectEvents(fromSecond, db, atLeast(2, "insert"))).filter((e) => e.operationType === "insert");
        expect(events.map((e) => show(e.documentKey?._id))).toEqual(["Int32(2)", "Int32(3)"]);
      } finally {
        await fromSecond.close();
      }
    });

    needs("changeStreams")("an idle stream returns [] and its resume token skips only what it has already seen", async () => {
      const db = freshDb("idle");
      const app = subject.collection(db, "c");
      await app.insertOne({ _id: "seen" });
      const t0 = await port.clusterTime();
      const cursor = await port.watch({ startAtOperationTime: t0! });
      let token;
      try {
        // Drain (the inclusive start may replay the last write before t0), then expect an empty batch.
        await collectEvents(cursor, db, atLeast(1), 3);
        let batch = await cursor.nextBatch(50);
        for (let i = 0; i < 10 && batch.some((e) => e.ns?.db === db); i++) batch = await cursor.nextBatch(50);
        expect(batch.filter((e) => e.ns?.db === db)).toEqual([]);
        token = cursor.resumeToken();
        expect(token).toBeDefined();
      } finally {
        await cursor.close();
      }
      await app.insertOne({ _id: "later" });
      const resumed = await port.watch({ resumeAfter: token! });
      try {
        const events = (await collectEvents(resumed, db, atLeast(1))).filter((e) => CRUD.has(e.operationType));
        expect(events.map((e) => show(e.documentKey?._id))).toEqual(['"later"']);
      } finally {
        await resumed.close();
      }
    });

    needs("changeStreams")("a stream starting before the retained history fails with HistoryLostError", async () => {
      await expectHistoryLost(async () => {
        const cursor = await port.watch({ startAtOperationTime: new Timestamp({ t: 1, i: 1 }) });
        try {
          await cursor.nextBatch(100);
        } finally {
          await cursor.close();
        }
      });
    });

    (capabilities.truncation ? needs("changeStreams") : test.skip)(
      "after the history is truncated, an open stream behind it and an old token fail with HistoryLostError",
      async () => {
        const db = freshDb("lost");
        const app = subject.collection(db, "c");
        const t0 = await port.clusterTime();
        await app.insertOne({ _id: 1 });
        const early = await port.watch({ startAtOperationTime: t0! });
        const [first] = (await collectEvents(early, db, atLeast(1, "insert"))).filter((e) => e.operationType === "insert");
        const oldToken = first._id;
        const behind = await port.watch({ startAtOperationTime: t0! });
        await app.insertOne({ _id: 2 });
        await app.insertOne({ _id: 3 });
        await subject.truncateHistory!();
        await app.insertOne({ _id: 4 });
        await expectHistoryLost(() => behind.nextBatch(50));
        await expectHistoryLost(async () => {
          const c = await port.watch({ resumeAfter: oldToken });
          try {
            await c.nextBatch(50);
          } finally {
            await c.close();
          }
        });
        await expectHistoryLost(() => port.watch({ startAtOperationTime: t0! }).then((c) => c.nextBatch(50)));
        // A stream started now is fine and sees the new write.
        const fresh = await port.watch({});
        await app.insertOne({ _id: 5 });
        expect(crud(await collectEvents(fresh, db, atLeast(1)))).toEqual(["insert c Int32(5)"]);
        await Promise.all([early.close(), behind.close(), fresh.close()]);
      },
    );

    needs("changeStreams")("clusterTime moves forward with writes and the oplog window covers it", async () => {
      const db = freshDb("time");
      const t1 = await port.clusterTime();
      await subject.collection(db, "c").insertOne({ _id: 1 });
      const t2 = await port.clusterTime();
      expect(t2!.greaterThan(t1!)).toBe(true);
      const window = await port.oplogWindow();
      expect(window).toBeDefined();
      expect(window!.first.lessThan(window!.last) || window!.first.equals(window!.last)).toBe(true);
      expect(window!.last.greaterThan(t1!)).toBe(true);
      expect(window!.seconds).toBe((window!.last.high >>> 0) - (window!.first.high >>> 0));
    });

    // ---- write blocking ---------------------------------------------------------------------------------

    // Who write blocking stops (mongod: authorization_session_impl.cpp `_updateInternalAuthorizationState`): callers
    // without bypassWriteBlockingMode; root and restore hold it, and with access control off everyone does.
    (capabilities.accessControl ? needs("userWriteBlocking") : test.skip)("user write blocking blocks writes (code 371) of users without bypassWriteBlockingMode until lifted; root writes on", async () => {
      const db = freshDb("block");
      const ns = { db, coll: "c" };
      if (!subject.asUser) throw new Error("the subject claims access control but offers no asUser");
      const app = await subject.asUser(`app_${db}`, [{ role: "readWriteAnyDatabase", db: "admin" }]);
      const admin = await subject.asUser(`admin_${db}`, [{ role: "root", db: "admin" }]);
      await app.collection(db, "c").insertOne({ _id: 1, v: 1 });
      expect(await port.userWriteBlocking()).toBe(false);
      await port.setUserWriteBlocking(true);
      try {
        expect(await port.userWriteBlocking()).toBe(true);
        await expectCode(app.port.bulkWrite(ns, [{ replaceOne: { filter: { _id: 1 }, replacement: { v: 2 } } }], true), [371]);
        await expectCode(app.collection(db, "c").insertOne({ _id: 2 }), [371]);
        await expectCode(app.collection(db, "c").deleteOne({ _id: 1 }), [371]);
        // Reads still work and nothing changed.
        expect((await port.findById(ns, 1))?.v).toEqual(new Int32(1));
        // root is not stopped: this is why the engine lists such users before relying on write blocking.
        await admin.collection(db, "c").insertOne({ _id: 3 });
        expect(await port.countDocuments(ns)).toBe(2);
      } finally {
        await port.setUserWriteBlocking(false);
      }
      expect(await port.userWriteBlocking()).toBe(false);
      await app.port.bulkWrite(ns, [{ replaceOne: { filter: { _id: 1 }, replacement: { v: 2 } } }], true);
      expect((await port.findById(ns, 1))?.v).toEqual(new Int32(2));
      await app.port.close();
      await admin.port.close();
    });

    (capabilities.writeBlocking && !capabilities.accessControl ? test : test.skip)("without access control, write blocking stops no connection", async () => {
      const db = freshDb("noauth");
      await port.setUserWriteBlocking(true);
      try {
        await subject.collection(db, "c").insertOne({ _id: 1 });
        expect(await port.countDocuments({ db, coll: "c" })).toBe(1);
      } finally {
        await port.setUserWriteBlocking(false);
      }
    });

    (capabilities.accessControl ? test : test.skip)("readWrite has no bypassDocumentValidation: a bulk sent with the flag is refused (13)", async () => {
      if (!subject.asUser) throw new Error("the subject claims access control but offers no asUser");
      const db = freshDb("bypass");
      const rw = await subject.asUser(`rw_${db}`, [{ role: "readWriteAnyDatabase", db: "admin" }]);
      const dba = await subject.asUser(`dba_${db}`, [{ role: "readWriteAnyDatabase", db: "admin" }, { role: "dbAdminAnyDatabase", db: "admin" }]);
      const ns = { db, coll: "c" };
      await rw.port.bulkWrite(ns, [{ insertOne: { document: { _id: 1 } } }], false);
      await expectCode(rw.port.bulkWrite(ns, [{ insertOne: { document: { _id: 2 } } }], false, { bypassDocumentValidation: true }), [13]);
      await dba.port.bulkWrite(ns, [{ insertOne: { document: { _id: 2 } } }], false, { bypassDocumentValidation: true });
      expect(await port.countDocuments(ns)).toBe(2);
      await rw.port.close();
      await dba.port.close();
    });

    // docs reference/collation: a collection's default collation is its `_id` index's, so string `_id`s come back
    // in the locale's order, not binary order ("B" < "a" < "c" binary; "a" < "B" < "c" under en).
    needs("collations")("a collection with a default collation scans string _ids in collation order", async () => {
      const db = freshDb("collation");
      await port.createCollection({ db, name: "c", kind: "collection", options: { collation: { locale: "en", strength: 2 } }, indexes: [] });
      await port.bulkWrite({ db, coll: "c" }, ["c", "B", "a", "D"].map((id) => ({ insertOne: { document: { _id: id } } })), true);
      expect(ids(flat(await scanAll(port, { db, coll: "c" }, {}, 2)))).toEqual(['"a"', '"B"', '"c"', '"D"']);
      expect(ids(flat(await scanAll(port, { db, coll: "c" }, { after: "B" }, 10)))).toEqual(['"c"', '"D"']);
    });

    test("an unordered bulk runs its deletes after its updates (the driver's grouping)", async () => {
      const db = freshDb("unordered");
      const ns = { db, coll: "c" };
      await port.bulkWrite(ns, [{ insertOne: { document: { _id: 1, v: 1 } } }], true);
      await port.bulkWrite(ns, [{ deleteOne: { filter: { _id: 1 } } }, { replaceOne: { filter: { _id: 1 }, replacement: { v: 2 }, upsert: true } }], false);
      expect(await port.findById(ns, 1)).toBeNull();
    });

    needs("dollarFields")("a replacement with a top-level $-prefixed field is refused (52); $replaceWith/$literal stores it", async () => {
      const db = freshDb("dollar");
      const ns = { db, coll: "c" };
      await port.bulkWrite(ns, [{ insertOne: { document: { _id: 1, $p: 1 } } }], true);
      await expectCode(port.bulkWrite(ns, [{ replaceOne: { filter: { _id: 1 }, replacement: { _id: 1, $p: 2 }, upsert: true } }], true), [52]);
      await port.bulkWrite(ns, [{ updateOne: { filter: { _id: 1 }, update: [{ $replaceWith: { $literal: { _id: 1, $p: 2 } } }], upsert: true } }], true);
      expect(show(await port.findById(ns, 1))).toBe("{_id:Int32(1),$p:Int32(2)}");
    });

    // ---- catalog -----------------------------------------------------------------------------------------

    const listedIn = async (db: string) =>
      Object.fromEntries((await port.listCollections()).filter((c) => c.db === db && !c.name.startsWith("system.")).map((c) => [c.name, c]));

    test("createCollection and a unique index are reflected by listCollections; creating it again is fine", async () => {
      const db = freshDb("catalog");
      await port.createCollection({ db, name: "people", kind: "collection", options: {}, indexes: [] });
      await port.createIndexes({ db, coll: "people" }, [{ name: "name_1", key: { name: 1 }, options: { unique: true } }]);
      // Creating again with the same kind is fine.
      await port.createCollection({ db, name: "people", kind: "collection", options: {}, indexes: [] });
      const byName = await listedIn(db);
      expect(Object.keys(byName)).toEqual(["people"]);
      expect(byName.people.kind).toBe("collection");
      const indexes = Object.fromEntries(byName.people.indexes.map((i) => [i.name, i]));
      expect(Object.keys(indexes).sort()).toEqual(["_id_", "name_1"]);
      expect(indexes._id_.key).toEqual({ _id: 1 });
      expect(indexes.name_1).toMatchObject({ key: { name: 1 }, options: { unique: true } });
      expect(indexes.name_1.options).not.toHaveProperty("v");
      expect(indexes.name_1.options).not.toHaveProperty("key");
    });

    needs("ttlIndexes")("a TTL index is listed with its expiry, and the expiry can change", async () => {
      const db = freshDb("ttl");
      await port.createIndexes({ db, coll: "sessions" }, [{ name: "at_1", key: { at: 1 }, options: { expireAfterSeconds: 3600 } }]);
      const listed = (await listedIn(db)).sessions;
      expect(listed.indexes.find((i) => i.name === "at_1")).toMatchObject({ key: { at: 1 }, options: { expireAfterSeconds: 3600 } });
      await port.setIndexExpiry({ db, coll: "sessions" }, "at_1", 60);
      const after = (await listedIn(db)).sessions;
      expect(after.indexes.find((i) => i.name === "at_1")?.options.expireAfterSeconds).toBe(60);
    });

    needs("validators")("createCollection keeps a validator with its level and action", async () => {
      const db = freshDb("validator");
      const validator = { $jsonSchema: { bsonType: "object", required: ["name"], properties: { name: { bsonType: "string" } } } };
      await port.createCollection({ db, name: "validated", kind: "collection", options: { validator, validationLevel: "moderate", validationAction: "error" }, indexes: [] });
      expect((await listedIn(db)).validated.options).toMatchObject({ validator, validationLevel: "moderate", validationAction: "error" });
    });

    needs("collations")("createCollection keeps a collection's default collation", async () => {
      const db = freshDb("collation");
      await port.createCollection({ db, name: "french", kind: "collection", options: { collation: { locale: "fr", strength: 2 } }, indexes: [] });
      expect((await listedIn(db)).french.options.collation).toMatchObject({ locale: "fr", strength: 2 });
    });

    needs("cappedCollections")("createCollection keeps capped, size and max", async () => {
      const db = freshDb("capped");
      await port.createCollection({ db, name: "capped", kind: "collection", options: { capped: true, size: 65536, max: 100 }, indexes: [] });
      expect((await listedIn(db)).capped.options).toMatchObject({ capped: true, size: 65536, max: 100 });
    });

    needs("views")("views are created from their definition, listed as views without indexes, and never replace a collection", async () => {
      const db = freshDb("views");
      await port.createCollection({ db, name: "people", kind: "collection", options: {}, indexes: [] });
      await port.createCollection({ db, name: "names", kind: "view", options: { viewOn: "people", pipeline: [{ $project: { name: 1 } }] }, indexes: [] });
      await expect(port.createCollection({ db, name: "people", kind: "view", options: { viewOn: "names", pipeline: [] }, indexes: [] })).rejects.toThrow();
      const byName = await listedIn(db);
      expect(Object.values(byName).map((c) => `${c.name}:${c.kind}`)).toEqual(["names:view", "people:collection"]);
      expect(byName.names.options).toMatchObject({ viewOn: "people", pipeline: [{ $project: { name: 1 } }] });
      expect(byName.names.indexes).toEqual([]);
    });

    test("listCollections leaves out admin, config, local and the checkpoint database", async () => {
      const db = freshDb("visible");
      await subject.collection(db, "c").insertOne({ _id: 1 });
      await port.checkpoints(`list-${db}`).put("k", { a: 1 });
      const dbs = new Set((await port.listCollections()).map((c) => c.db));
      expect(dbs.has(db)).toBe(true);
      for (const hidden of ["admin", "config", "local", CHECKPOINT_DATABASE]) expect(dbs.has(hidden)).toBe(false);
      await port.checkpoints(`list-${db}`).clear();
    });

    test("rename, drop and dropDatabase change the catalog; counts and stats follow the data", async () => {
      const db = freshDb("ddl2");
      await subject.collection(db, "a").insertMany([{ _id: 1, pad: "x".repeat(100) }, { _id: 2, pad: "y".repeat(100) }]);
      await subject.collection(db, "b").insertOne({ _id: 1 });
      const stats = await port.collectionStats({ db, coll: "a" });
      expect(stats.count).toBe(2);
      expect(stats.sizeBytes).toBeGreaterThan(200);
      expect(await port.collectionStats({ db, coll: "absent" })).toEqual({ count: 0, sizeBytes: 0 });

      await expectCode(port.renameCollection({ db, coll: "a" }, { db, coll: "b" }, false), [48]);
      await port.renameCollection({ db, coll: "a" }, { db, coll: "b" }, true);
      expect(await port.countDocuments({ db, coll: "b" })).toBe(2);
      expect(await port.countDocuments({ db, coll: "a" })).toBe(0);
      await port.dropCollection({ db, coll: "b" });
      await port.dropCollection({ db, coll: "b" }); // already gone: fine
      expect((await port.listCollections()).filter((c) => c.db === db)).toEqual([]);
      await subject.collection(db, "c").insertOne({ _id: 1 });
      await port.dropDatabase(db);
      expect((await port.listCollections()).filter((c) => c.db === db)).toEqual([]);
    });

    // ---- checkpoints and metadata -----------------------------------------------------------------------

    test("checkpoints: compareAndSet only wins against the expected version; clear is per migration", async () => {
      const id = `cas-${process.pid}-${++dbCounter}`;
      const store = port.checkpoints(id);
      const other = port.checkpoints(`${id}-other`);
      expect(await store.get("lease")).toBeNull();
      expect(await store.compareAndSet("lease", null, { owner: "a" })).toBe(true);
      expect(await store.compareAndSet("lease", null, { owner: "b" })).toBe(false);
      expect(await store.get("lease")).toEqual({ owner: "a", version: 1 });
      expect(await store.compareAndSet("lease", 1, { owner: "b" })).toBe(true);
      expect(await store.compareAndSet("lease", 1, { owner: "c" })).toBe(false);
      expect(await store.get("lease")).toEqual({ owner: "b", version: 2 });
      await store.put("lease", { owner: "d", version: 99 });
      expect(await store.get("lease")).toEqual({ owner: "d", version: 3 });
      // Values keep their BSON content (e.g. a resume token and a cluster time).
      await store.put("stream", { token: { _data: "82abc" }, at: new Timestamp({ t: 9, i: 2 }) });
      expect(await store.get("stream")).toEqual({ token: { _data: "82abc" }, at: new Timestamp({ t: 9, i: 2 }), version: 1 });
      await other.put("lease", { owner: "z" });
      await store.clear();
      expect(await store.get("lease")).toBeNull();
      expect(await store.get("stream")).toBeNull();
      expect(await other.get("lease")).toEqual({ owner: "z", version: 1 });
      await other.clear();
    });

    needs("changeStreams")("checkpoint writes never show up in the change stream", async () => {
      const db = freshDb("quiet");
      const t0 = await port.clusterTime();
      await port.checkpoints(`quiet-${db}`).put("k", { n: 1 });
      await subject.collection(db, "c").insertOne({ _id: "marker" });
      const cursor = await port.watch({ startAtOperationTime: t0! });
      try {
        const seen: ChangeEvent[] = [];
        for (let i = 0; i < 20 && !seen.some((e) => e.ns?.db === db && e.operationType === "insert"); i++) {
          seen.push(...(await cursor.nextBatch(250)));
        }
        expect(seen.some((e) => e.ns?.db === db && e.operationType === "insert")).toBe(true);
        expect(seen.filter((e) => e.ns?.db === CHECKPOINT_DATABASE)).toEqual([]);
      } finally {
        await cursor.close();
        await port.checkpoints(`quiet-${db}`).clear();
      }
    });

    // ---- size limits (issue 8, finding 10) ---------------------------------------------------------------
    // mongod: a stored document is at most 16 MiB (BSONObjMaxUserSize); a change event at most 16 MiB + 16 KiB
    // (BSONObjMaxInternalSize) or it fails the getMore with BSONObjectTooLarge (10334); $changeStreamSplitLargeEvent
    // (6.0.9+/7.0+) splits it into fragments instead (jstests/change_streams/split_large_event.js).

    needs("documentSizeLimit")("an update whose result exceeds 16 MiB is refused (17419) and the document stays as it was", async () => {
      const db = freshDb("toolarge");
      const app = subject.collection(db, "big");
      await app.insertOne({ _id: "big", a: "x".repeat(9 * MB) });
      await expectCode(app.updateOne({ _id: "big" }, { $set: { b: "y".repeat(8 * MB) } }), [17419]);
      const [doc] = await scanAll(port, { db, coll: "big" }, {}, 10).then(flat);
      expect(Object.keys(doc)).toEqual(["_id", "a"]);
    });

    // A document of exactly 16 MiB is stored (jstests/core/max_doc_size.js: insert, upsert by replacement and $set
    // up to maxBsonObjectSize all work). The driver's bulk API refuses any statement of 16 MiB or more
    // (lib/bulk/ordered.js and unordered.js addToOperationsList: `bsonSize >= maxBsonObjectSize`), and an update
    // statement is the document plus {q, upsert, multi} (~40 B more): before, a 16 MiB - 40 B document could not be
    // overwritten by the copy or replay (MongoInvalidArgumentError, nothing sent).
    test("bulkWrite carries a 16 MiB - 1 B document: insert, replaceOne upsert, the $replaceWith/$literal pipeline, several in one bulk", async () => {
      const db = freshDb("nearlimit");
      const ns = { db, coll: "big" };
      const sized = (id: number, total: number, fill: string): Document => {
        const doc: Document = { _id: new Int32(id), s: "" };
        doc.s = fill.repeat(total - BSON.calculateObjectSize(doc));
        expect(BSON.calculateObjectSize(doc)).toBe(total);
        return doc;
      };
      const limit = 16 * MB;
      await port.bulkWrite(ns, [{ insertOne: { document: sized(1, limit - 1, "a") } }], true);
      await port.bulkWrite(ns, [{ replaceOne: { filter: { _id: new Int32(1) }, replacement: sized(1, limit - 1, "b"), upsert: true } }], true);
      await port.bulkWrite(ns, [{ replaceOne: { filter: { _id: new Int32(2) }, replacement: sized(2, limit - 1, "c"), upsert: true } }], false);
      // The pipeline is how a document with top-level $ fields is overwritten; servers that cannot store those have
      // no update pipelines either (FerretDB v1): a replacement stands in there.
      const overwrite: WriteOperation = lacks.dollarFields
        ? { replaceOne: { filter: { _id: new Int32(1) }, replacement: sized(1, limit - 1, "d"), upsert: true } }
        : { updateOne: { filter: { _id: new Int32(1) }, update: [{ $replaceWith: { $literal: sized(1, limit - 1, "d") } }], upsert: true } };
      const outcome = await port.bulkWrite(
        ns,
        [
          overwrite,
          { insertOne: { document: { _id: new Int32(3) } } },
          { deleteOne: { filter: { _id: new Int32(2) } } },
        ],
        true,
      );
      expect(outcome).toEqual({ inserted: 1, upserted: 0, matched: 1, modified: 1, deleted: 1 });
      const stored: number[] = [];
      let first = "";
      for await (const batch of port.scanStored(ns, {}, 1)) {
        stored.push(...batch.map((b) => b.byteLength));
        first ||= Buffer.from(batch[0]).subarray(20, 23).toString();
      }
      expect(stored).toEqual([limit - 1, BSON.calculateObjectSize({ _id: new Int32(3) })]);
      expect(first).toBe("ddd");
    });

    needs("documentSizeLimit")("over 16 MiB: an insert is refused (BadValue 2), an upsert 17420, a replacement 17419; nothing changes", async () => {
      const db = freshDb("overlimit");
      const ns = { db, coll: "big" };
      const over = { _id: new Int32(1), s: "x".repeat(16 * MB) };
      await expectCode(port.bulkWrite(ns, [{ insertOne: { document: over } }], true), [2]);
      await expectCode(port.bulkWrite(ns, [{ replaceOne: { filter: { _id: new Int32(1) }, replacement: over, upsert: true } }], true), [17420]);
      await port.bulkWrite(ns, [{ insertOne: { document: { _id: new Int32(1) } } }], true);
      await expectCode(port.bulkWrite(ns, [{ replaceOne: { filter: { _id: new Int32(1) }, replacement: over, upsert: true } }], true), [17419]);
      expect(show(await port.findById(ns, new Int32(1)))).toBe("{_id:Int32(1)}");
    });

    needs("changeStreams")(
      "an update event over the limit (updateLookup + updateDescription): fails 10334, arrives whole without updateDescription, or split into fragments",
      async () => {
        const db = freshDb("bigevent");
        const app = subject.collection(db, "big");
        await app.insertOne({ _id: "big", a: "x".repeat(9 * MB) });
        const t0 = await port.clusterTime();
        // fullDocument (~9 MB, updateLookup) + updateDescription.updatedFields (~9 MB): ~18 MB of event.
        await app.updateOne({ _id: "big" }, { $set: { a: "y".repeat(9 * MB) } });
        const isUpdate = (e: ChangeEvent): boolean => e.operationType === "update" || e.splitEvent !== undefined;
        // Later fragments carry only the fields that did not fit before (no `ns`): read them unfiltered.
        const collect = async (cursor: ChangeCursor, enough: (events: ChangeEvent[]) => boolean): Promise<ChangeEvent[]> => {
          const events: ChangeEvent[] = [];
          for (let i = 0; i < 40 && !enough(events); i++) {
            events.push(...(await cursor.nextBatch(250)).filter((e) => e.ns?.db === db || (e.splitEvent && e.splitEvent.fragment > 1)));
          }
          return events.filter(isUpdate);
        };

        const plain = await port.watch({ startAtOperationTime: t0! });
        try {
          await expectCode(collect(plain, (all) => all.some(isUpdate)), [10334]);
        } finally {
          await plain.close();
        }

        const projected = await port.watch({ startAtOperationTime: t0!, omitUpdateDescription: true });
        try {
          const [update] = await collect(projected, (all) => all.some(isUpdate));
          expect(update.splitEvent).toBeUndefined();
          expect(update.updateDescription).toBeUndefined();
          expect((update.fullDocument?.a as string).slice(0, 3)).toBe("yyy");
        } finally {
          await projected.close();
        }

        const { version } = await port.serverInfo();
        const split = await port.watch({ startAtOperationTime: t0!, splitLargeEvents: true });
        try {
          if (!splitsLargeChangeEvents(version)) {
            await expectCode(collect(split, (all) => all.some(isUpdate)), [10334]);
            return;
          }
          const fragments = await collect(split, (all) => all.filter(isUpdate).length >= 2);
          expect(fragments.map((f) => f.splitEvent)).toEqual([
            { fragment: 1, of: 2 },
            { fragment: 2, of: 2 },
          ]);
          expect(show(fragments[0]._id)).not.toBe(show(fragments[1]._id));
          // Fields are split whole (smallest first): the context is in fragment 1, the two big ones apart.
          expect(fragments[0].operationType).toBe("update");
          expect(fragments[0].documentKey).toEqual({ _id: "big" });
          const whole = Object.assign({}, ...fragments) as ChangeEvent;
          expect((whole.fullDocument?.a as string).length).toBe(9 * MB);
          expect((whole.updateDescription?.updatedFields?.a as string).length).toBe(9 * MB);
          expect((fragments[0].fullDocument === undefined) !== (fragments[1].fullDocument === undefined)).toBe(true);
          // Resuming after fragment 1 returns fragment 2 first.
          const resumed = await port.watch({ resumeAfter: fragments[0]._id, splitLargeEvents: true });
          try {
            const [next] = await collect(resumed, (all) => all.some(isUpdate));
            expect(next.splitEvent).toEqual({ fragment: 2, of: 2 });
          } finally {
            await resumed.close();
          }
        } finally {
          await split.close();
        }
      },
    );

    // ---- DDL through a temporary namespace (issue 8, finding 9) ----------------------------------------------

    needs("changeStreams")(
      "renameCollection across databases: create, createIndexes, inserts on tmpXXXXX.renameCollection, its rename over the target, drop of the source",
      async () => {
        const from = freshDb("xfrom");
        const to = freshDb("xto");
        await subject.collection(from, "src").insertMany([{ _id: 1, k: "a" }, { _id: 2, k: "b" }]);
        await subject.collection(from, "src").createIndex({ k: 1 });
        await subject.collection(to, "dst").insertOne({ _id: 9 });
        const t0 = await port.clusterTime();
        await port.renameCollection({ db: from, coll: "src" }, { db: to, coll: "dst" }, true);
        const { version } = await port.serverInfo();
        const expanded = Number(version.split(".")[0]) >= 6;
        const cursor = await port.watch({ startAtOperationTime: t0! });
        try {
          const events: ChangeEvent[] = [];
          for (let i = 0; i < 40 && !events.some((e) => e.operationType === "drop"); i++) {
            // The start is inclusive: the seeding's last write may come first.
            events.push(...(await cursor.nextBatch(250)).filter((e) => (e.ns?.db === from || e.ns?.db === to) && e.clusterTime.greaterThan(t0!)));
          }
          const tmp = events.find((e) => e.operationType === "insert")!.ns!.coll!;
          expect(tmp).toMatch(/^tmp[a-zA-Z0-9]{5}\.renameCollection$/);
          const seen = events.map((e) => `${e.operationType} ${e.ns?.db === to ? "to" : "from"}.${e.ns?.coll === tmp ? "TMP" : e.ns?.coll}`);
          expect(seen).toEqual([
            ...(expanded ? ["create to.TMP", "createIndexes to.TMP"] : []),
            "insert to.TMP",
            "insert to.TMP",
            "rename to.TMP",
            "drop from.src",
          ]);
          expect(events.find((e) => e.operationType === "rename")!.to).toEqual({ db: to, coll: "dst" });
          if (expanded) {
            // 6.0+ expanded events describe the DDL (docs: change-events, operationDescription).
            expect(events.find((e) => e.operationType === "rename")!.operationDescription?.to).toEqual({ db: to, coll: "dst" });
            const index = events.find((e) => e.operationType === "createIndexes")!.operationDescription?.indexes[0];
            expect([index?.name, Object.keys(index?.key ?? {}), Number(index?.key?.k)]).toEqual(["k_1", ["k"], 1]);
          }
        } finally {
          await cursor.close();
        }
        const listed = (await port.listCollections()).filter((c) => c.db === from || c.db === to);
        expect(listed.map((c) => `${c.db === to ? "to" : "from"}.${c.name}`)).toEqual(["to.dst"]);
        expect(listed[0].indexes.map((i) => i.name).sort()).toEqual(["_id_", "k_1"]);
        expect(ids(flat(await scanAll(port, { db: to, coll: "dst" }, {}, 10)))).toEqual(["Int32(1)", "Int32(2)"]);
      },
    );

    // collectionUUID (6.0+, with showExpandedEvents): the oplog entry's `ui`, i.e. the collection's UUID; absent on
    // dropDatabase, invalidate and endOfTransaction (src/mongo/db/pipeline/change_stream_event_transform.cpp,
    // kOpsWithoutUUID; docs: change-events "collectionUUID", New in 6.0). wallTime on every event from 6.0
    // (SERVER-65022). A drop and re-create gives a new UUID; a rename within a database keeps it; a rename across
    // databases copies into a new collection (renameBetweenDBs), so the target's events carry another UUID.
    needs("changeStreams")("collectionUUID: one per collection, new after drop and re-create, kept by a rename within a database, not across; wallTime on every event", async () => {
      const db = freshDb("uuid");
      const other = freshDb("uuidx");
      const t0 = await port.clusterTime();
      const a = subject.collection(db, "a");
      await a.insertOne({ _id: 1 });
      await a.updateOne({ _id: 1 }, { $set: { x: 1 } });
      await a.createIndex({ x: 1 });
      await port.dropCollection({ db, coll: "a" });
      await a.insertOne({ _id: 2 });
      await port.renameCollection({ db, coll: "a" }, { db, coll: "b" }, false);
      await subject.collection(db, "b").insertOne({ _id: 3 });
      await port.renameCollection({ db, coll: "b" }, { db: other, coll: "c" }, false);
      await port.dropDatabase(other);
      const { version } = await port.serverInfo();
      const six = Number(version.split(".")[0]) >= 6;
      const cursor = await port.watch({ startAtOperationTime: t0! });
      const events: ChangeEvent[] = [];
      try {
        for (let i = 0; i < 40 && !events.some((e) => e.operationType === "dropDatabase"); i++) {
          events.push(...(await cursor.nextBatch(250)).filter((e) => e.ns?.db === db || e.ns?.db === other));
        }
      } finally {
        await cursor.close();
      }
      const uuidOf = (e: ChangeEvent): string => {
        const u = e.collectionUUID as Binary | undefined;
        if (!u) return "-";
        expect([u.sub_type, u.length()]).toEqual([4, 16]);
        return Buffer.from(u.buffer.subarray(0, u.position)).toString("hex");
      };
      const names = new Map<string, string>();
      const label = (e: ChangeEvent): string => {
        const hex = uuidOf(e);
        if (hex !== "-" && !names.has(hex)) names.set(hex, `U${names.size + 1}`);
        const coll = e.ns?.coll?.startsWith("tmp") ? "TMP" : e.ns?.coll;
        return `${e.operationType} ${e.ns?.db === other ? "other" : "db"}.${coll ?? ""} ${hex === "-" ? "-" : names.get(hex)}`;
      };
      const seen = events.map(label);
      if (!six) {
        expect(events.every((e) => e.collectionUUID === undefined && e.wallTime === undefined)).toBe(true);
        return;
      }
      expect(events.every((e) => Object.prototype.toString.call(e.wallTime) === "[object Date]")).toBe(true);
      expect(seen).toEqual([
        "create db.a U1",
        "insert db.a U1",
        "update db.a U1",
        "createIndexes db.a U1",
        "drop db.a U1",
        "create db.a U2",
        "insert db.a U2",
        "rename db.a U2",
        "insert db.b U2",
        "create other.TMP U3",
        "insert other.TMP U3",
        "insert other.TMP U3",
        "rename other.TMP U3",
        "drop db.b U2",
        "drop other.c U3",
        "dropDatabase other. -",
      ]);
    });

    needs("changeStreams")("$out over an indexed collection: inserts on tmp.agg_out.<uuid>, then its rename over the target", async () => {
      const db = freshDb("out");
      await subject.collection(db, "orders").insertMany([{ _id: 1, paid: true }, { _id: 2, paid: false }, { _id: 3, paid: true }]);
      await subject.collection(db, "report").insertOne({ _id: 100 });
      await subject.collection(db, "report").createIndex({ paid: 1 });
      const t0 = await port.clusterTime();
      await subject.collection(db, "orders").aggregate([{ $match: { paid: true } }, { $out: "report" }]).toArray();
      const cursor = await port.watch({ startAtOperationTime: t0! });
      try {
        const events = (await collectEvents(cursor, db, (all) => all.some((e) => e.operationType === "rename"))).filter((e) =>
          e.clusterTime.greaterThan(t0!),
        );
        const tmp = events.find((e) => e.operationType === "insert")!.ns!.coll!;
        expect(tmp).toMatch(/^tmp\.agg_out\./);
        // Whatever DDL precedes the inserts (create, createIndexes: what the server version shows) is on the temporary namespace.
        expect(events.filter((e) => e.operationType !== "rename").every((e) => e.ns?.coll === tmp)).toBe(true);
        expect(crud(events).map((c) => c.replace(tmp, "TMP"))).toEqual(["insert TMP Int32(1)", "insert TMP Int32(3)"]);
        const rename = events.find((e) => e.operationType === "rename")!;
        expect([rename.ns, rename.to]).toEqual([{ db, coll: tmp }, { db, coll: "report" }]);
      } finally {
        await cursor.close();
      }
      const report = (await port.listCollections()).filter((c) => c.db === db && c.name === "report");
      expect(report[0].indexes.map((i) => i.name).sort()).toEqual(["_id_", "paid_1"]);
      expect(ids(flat(await scanAll(port, { db, coll: "report" }, {}, 10)))).toEqual(["Int32(1)", "Int32(3)"]);
    });

    // ---- what a whole-deployment stream does not show (issue 8, findings 6 and 5) ------------------------------

    needs("changeStreams", "timeseries")(
      "writes to a time-series collection never show in a whole-deployment stream (they go to system.buckets.<name>)",
      async () => {
        const db = freshDb("ts");
        await port.createCollection({ db, name: "weather", kind: "timeseries", options: { timeseries: { timeField: "ts" } }, indexes: [] });
        const t0 = await port.clusterTime();
        await subject.collection(db, "weather").insertOne({ ts: new Date(), t: 21 });
        await subject.collection(db, "marker").insertOne({ _id: "after" });
        const cursor = await port.watch({ startAtOperationTime: t0! });
        try {
          const events = await collectEvents(cursor, db, (all) => all.some((e) => e.ns?.coll === "marker" && e.operationType === "insert"));
          expect(events.filter((e) => CRUD.has(e.operationType)).map((e) => e.ns?.coll)).toEqual(["marker"]);
          expect(events.filter((e) => e.ns?.coll?.startsWith("system."))).toEqual([]);
        } finally {
          await cursor.close();
        }
      },
    );

    test("on a replica set updateUser applies at once and there is no user-cache interval to wait for", async () => {
      expect(await port.userCacheInvalidationSeconds()).toBeUndefined();
    });

    test("serverInfo reports a replica set, its version, and write-blocking support", async () => {
      const info = await port.serverInfo();
      expect(info.topology).toBe("replicaSet");
      expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
      // As probed, not inferred from the version (FerretDB reports 7.0.42 and has no setUserWriteBlockMode).
      expect(info.supportsUserWriteBlocking).toBe(lacks.userWriteBlocking === undefined);
      const privileges = await port.privileges();
      expect(privileges.length).toBeGreaterThan(0);
    });
  });
}
