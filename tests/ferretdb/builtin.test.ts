// The builtin engine end to end over the wire, FerretDB → FerretDB, with no double in the data path: the
// real driver through MongoClusterPort into two real FerretDB processes. The source reports a replica set name
// (hello.setName) yet has no change streams, so what runs here is chosen by the capability probes, not the
// topology: snapshot mode, writes not blocked by the engine (FerretDB has neither setUserWriteBlockMode nor
// user commands), the application stopped before cutover.
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as path from "path";
import { Binary, BSON, BSONRegExp, Double, Int32, Long, MongoClient, ObjectId, Timestamp, type Document } from "mongodb";
import { MongoClusterPort } from "../../provider/cluster/mongo";
import { createBuiltinEngine } from "../../provider/engines/builtin";
import type { MigrationSpec } from "../../provider/engines/engine";
import { makeContext } from "../support/context";
import { makeSpec } from "../support/spec";
import { describeTier, ferretdbTier } from "../support/tiers";
import { probeFerretDB } from "./ferretdb-capabilities";
import { startFerretDB, stopAll, type FerretInstance } from "./ferretdb-server";

/** Test documents with any `_id` (the driver's default schema types `_id` as ObjectId). */
type Loose = { _id: string | number | Int32; [key: string]: unknown };

const tier = ferretdbTier();

// Sizes. FerretDB v1 (SQLite) runs an upsert that inserts as a scan of the collection (measured: 20 such upserts
// of these 330-byte documents take 2–4 s into 300 of them, 20 inserts 10–40 ms), so each document the engine upserts
// costs in proportion to what the target already holds: with 4000 and 6000 documents this file took over five
// minutes. What the tests claim needs many batches, not volume; volume is measured, not
// tested: tests/ferretdb/snapshot-bench.ts.
const ORDERS = 300;
const ITEMS = 500;
/**
 * 16 KiB batches (~36 rich or ~52 padded documents each). partitionDocuments would cut 3–5 partitions per collection
 * on mongod; on FerretDB splitPoints gives none (it ignores min/max, so every range is a full read and sort).
 */
const SMALL_BATCHES = { batchBytes: 16 * 1024, partitionDocuments: 120 } as const;
const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;

/** Count and content hash of a collection in `_id` order, read independently of the engine's verifier. */
async function digest(client: MongoClient, db: string, coll: string): Promise<{ count: number; hash: string }> {
  const h = createHash("sha256");
  let count = 0;
  for await (const doc of client.db(db).collection(coll).find({}, { sort: { _id: 1 }, ...EXACT })) {
    h.update(BSON.serialize(doc as Document));
    count++;
  }
  return { count, hash: h.digest("hex") };
}

/** One document per `i` holding every BSON type FerretDB v1 stores (no Decimal128, MinKey/MaxKey, Code, nested arrays). */
function richDocument(i: number): Document {
  return {
    _id: new Int32(i),
    email: `user${i}@example.com`,
    a: new Int32(i % 17),
    b: `b${i % 5}`,
    long: Long.fromString(`${9007199254740993n + BigInt(i)}`),
    double: new Double(i + 0.25),
    whole: new Double(i), // a Double that looks like an integer stays a Double
    bool: i % 2 === 0,
    date: new Date(1_700_000_000_000 + i),
    nothing: null,
    oid: new ObjectId(i.toString(16).padStart(24, "0")),
    uuid: new Binary(Buffer.alloc(16, i % 256), 4),
    userBinary: new Binary(Buffer.from([i % 256, 1, 2]), 0x80),
    regex: new BSONRegExp(`^u${i}`, "imsx"),
    ts: new Timestamp({ t: 1000 + i, i: 1 }),
    nested: { deep: { list: [new Int32(i), "x", { k: new Long(i) }] } },
    text: "ünïcødé ✓",
  };
}

/** `_id`s of other types FerretDB stores, so ranges and the merge at cutover cross type brackets. */
function mixedIdDocuments(): Document[] {
  return [
    { _id: new Long("9007199254740993"), kind: "long" },
    { _id: new Double(0.5), kind: "double" },
    { _id: "alpha", kind: "string" },
    { _id: "zeta", kind: "string" },
    { _id: { tenant: "t1", n: new Int32(1) }, kind: "object" },
    { _id: new Binary(Buffer.from([7, 7]), 0), kind: "binary" },
    { _id: new ObjectId("aaaaaaaaaaaaaaaaaaaaaaaa"), kind: "objectId" },
    { _id: true, kind: "bool" },
    { _id: new Timestamp({ t: 5, i: 5 }), kind: "timestamp" },
  ];
}

describeTier(tier, "builtin engine FerretDB → FerretDB over the wire", () => {
  jest.setTimeout(300_000);
  let source: FerretInstance | undefined;
  let target: FerretInstance | undefined;
  let sourceClient: MongoClient;
  let targetClient: MongoClient;
  let counter = 0;

  beforeAll(async () => {
    // Assigned one by one, so afterAll stops whichever started even when the other did not.
    source = await startFerretDB({ binary: tier.binary!, replSetName: "rs0", label: "source" });
    target = await startFerretDB({ binary: tier.binary!, label: "target" });
    sourceClient = new MongoClient(source.uri);
    targetClient = new MongoClient(target.uri);
    await Promise.all([sourceClient.connect(), targetClient.connect()]);
  });

  afterAll(async () => {
    await Promise.all([sourceClient?.close().catch(() => undefined), targetClient?.close().catch(() => undefined)]);
    await stopAll([source, target]);
  });

  function specFor(db: string, overrides: Partial<MigrationSpec> = {}, builtin: Partial<MigrationSpec["builtin"]> = {}): MigrationSpec {
    counter += 1;
    const base = makeSpec({
      migrationId: `ferret-${process.pid}-${counter}`,
      source: { uri: source!.uri },
      target: { uri: target!.uri },
      namespaces: { include: [`${db}.*`], exclude: [] },
      writeBlocking: "none",
      ...overrides,
    });
    return { ...base, builtin: { ...base.builtin, batchBytes: 64 * 1024, partitionDocuments: 1500, ...builtin } };
  }

  test("preflight asks the source what it can do: snapshot mode, and refusals that name the probe's answer", async () => {
    const db = "pre";
    await sourceClient.db(db).collection<Loose>("c").insertOne({ _id: 1 });
    const engine = createBuiltinEngine();
    const ctx = makeContext();

    const ok = await engine.preflight(specFor(db), ctx);
    expect(ok.errors).toEqual([]);
    expect(ok.facts.captureMode).toBe("snapshot");
    expect(ok.facts.sourceTopology).toBe("replicaSet"); // what hello says …
    expect(ok.warnings.map((w) => w.code)).toContain("SNAPSHOT_MODE_NO_CHANGE_STREAMS"); // … and what the probe found
    expect(String(ok.facts.sourceCapabilities)).toMatch(/^FerretDB v1\.24\.\d+ \(reports MongoDB 7\.0\.\d+\), replicaSet; changeStreams: no/);
    expect(String(ok.facts.sourceCapabilities)).toMatch(/indexBounds: no \(.*max is ignored\)/);

    const continuous = await engine.preflight(specFor(db, {}, { sync: "continuous" }), ctx);
    expect(continuous.errors.map((e) => e.code)).toEqual(["CONTINUOUS_SYNC_UNAVAILABLE"]);
    expect(continuous.errors[0].message).toMatch(/change-stream probe answered FailedToParse \(9\)/);

    // writeBlocking auto: no setUserWriteBlockMode, and no users commands either — only "none" is offered.
    const auto = await engine.preflight(specFor(db, { writeBlocking: "auto" }), ctx);
    const blocking = auto.errors.find((e) => e.code === "WRITE_BLOCKING_UNAVAILABLE");
    expect(blocking?.message).toMatch(/listCommands does not name setUserWriteBlockMode/);
    expect(blocking?.action).toMatch(/"none"/);
    expect(blocking?.action).not.toMatch(/"readOnlyUsers" \(/);

    const readOnly = await engine.preflight(specFor(db, { writeBlocking: "readOnlyUsers" }, { readOnlyUsers: ["app@admin"] }), ctx);
    expect(readOnly.errors.map((e) => e.code)).toEqual(["READ_ONLY_USERS_UNAVAILABLE"]);
    expect(readOnly.errors[0].message).toMatch(/listCommands does not name usersInfo/);
  });

  test("splitPoints gives one range on FerretDB (min/max ignored: each range would read and sort everything)", async () => {
    const items = sourceClient.db("split").collection<Loose>("items");
    await items.insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: new Int32(i) })));
    const port = await MongoClusterPort.connect(source!.uri);
    try {
      expect(await port.splitPoints({ db: "split", coll: "items" }, 4)).toEqual([]);
      const ids: number[] = [];
      for await (const batch of port.scan({ db: "split", coll: "items" }, {}, 7)) ids.push(...batch.map((d) => Number(d._id)));
      expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => i));
    } finally {
      await port.close();
    }
  });

  test("snapshot migration: every stored BSON type, mixed _id types, indexes, writes during the copy, cutover, verification", async () => {
    const db = "shop";
    const orders = sourceClient.db(db).collection("orders");
    await orders.insertMany([...Array.from({ length: ORDERS }, (_, i) => richDocument(i)), ...mixedIdDocuments()]);
    await orders.createIndex({ email: 1 }, { unique: true, name: "email_1" });
    await orders.createIndex({ a: 1, b: -1 }, { name: "a_1_b_-1" });
    const ttlSupported = probeFerretDB(tier.binary!).catalog.ttlIndexes.supported;
    if (ttlSupported) await orders.createIndex({ date: 1 }, { expireAfterSeconds: 10 * 365 * 86400, name: "date_1" });
    await sourceClient.db(db).collection<Loose>("customers").insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: `c${i}`, n: i })));

    // The application keeps writing while the copy runs (inserts, updates of copied documents, deletes): after
    // each of the first WRITES batches, so the expected counts do not depend on how the engine sizes its batches.
    const WRITES = 6;
    let batches = 0;
    const engine = createBuiltinEngine({
      hooks: {
        // Partitions are copied at once and each calls the hook: `n` is this call's own number (reading
        // `batches` after an await saw a later call's, so two calls deleted one document).
        afterCopyBatch: async () => {
          const n = ++batches;
          if (n > WRITES) return;
          await orders.insertOne({ ...richDocument(100_000 + n), email: `late${n}@example.com` });
          await orders.updateOne({ _id: new Int32(n) }, { $set: { b: `changed-${n}` } });
          await orders.deleteOne({ _id: new Int32(ORDERS / 2 + n) });
          await sourceClient.db(db).collection<Loose>("customers").deleteOne({ _id: `c${n}` });
        },
      },
    });
    const spec = specFor(db, {}, SMALL_BATCHES);
    const ctx = makeContext({ deadlineMs: 240_000 });
    const preflight = await engine.preflight(spec, ctx);
    expect(preflight.errors).toEqual([]);
    const handle = await engine.start(spec, ctx);
    expect(handle.data.captureMode).toBe("snapshot");
    expect(String(handle.data.sourceCapabilities)).toMatch(/changeStreams: no/);
    const status = await engine.advance(spec, handle, ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    expect(batches).toBeGreaterThan(WRITES); // the copy went on after the last of the writes

    // The application stops (writeBlocking none), then the cutover reconciles, builds indexes and verifies.
    const report = await engine.cutover(spec, handle, ctx);
    expect(report.verification.passed).toBe(true);
    for (const coll of ["orders", "customers"]) {
      const [s, t] = await Promise.all([digest(sourceClient, db, coll), digest(targetClient, db, coll)]);
      expect(t).toEqual(s);
    }
    expect((await digest(targetClient, db, "orders")).count).toBe(ORDERS + 9); // WRITES inserts and WRITES deletes
    const indexes = await targetClient.db(db).collection("orders").indexes();
    const byName = Object.fromEntries(indexes.map((ix) => [ix.name, ix]));
    expect(byName.email_1).toMatchObject({ key: { email: 1 }, unique: true });
    expect(byName["a_1_b_-1"]).toMatchObject({ key: { a: 1, b: -1 } });
    if (ttlSupported) expect(byName.date_1?.expireAfterSeconds).toBe(10 * 365 * 86400);
    // After COMPLETE the checkpoint (state, partitions) is gone; what remains of this migration in the reserved
    // database is the completion marker a repeated cutover answers from (and, had the engine blocked writes, the
    // record of it) — the engine's contract, tests/engines/builtin/engine.test.ts.
    const left = (await targetClient.db("__atlas_migration").collection("checkpoints").find({}).toArray())
      .filter((d) => String(d.migrationId).startsWith(spec.migrationId))
      .map((d) => `${d.migrationId}/${d.key}`);
    expect(left).toEqual([`${spec.migrationId}.complete/completion`]);
  });

  // Issue 8, finding 14: the driver's bulk API refuses statements of 16 MiB or more, and a replacement is the
  // document plus ~40 B of {q, upsert, multi}: a 16 MiB - 1 B document changed after the copy could not be
  // overwritten at cutover (MongoInvalidArgumentError "Document is larger than the maximum size", every run).
  test("a 16 MiB - 1 B document is copied, changed on the source, reconciled at cutover and verified", async () => {
    const db = "huge";
    const big = sourceClient.db(db).collection<Loose>("big");
    const sized = (fill: string): Loose => {
      const doc: Loose = { _id: new Int32(1), s: "" };
      doc.s = fill.repeat(16 * 1024 * 1024 - 1 - BSON.calculateObjectSize(doc));
      return doc;
    };
    await big.insertOne(sized("a"));
    await big.insertOne({ _id: new Int32(2), small: true });
    const engine = createBuiltinEngine();
    const spec = specFor(db);
    const ctx = makeContext({ deadlineMs: 240_000 });
    const handle = await engine.start(spec, ctx);
    expect((await engine.advance(spec, handle, ctx)).phase).toBe("READY_FOR_CUTOVER");
    await big.replaceOne({ _id: new Int32(1) }, sized("b"));
    const report = await engine.cutover(spec, handle, ctx);
    expect(report.verification.passed).toBe(true);
    const [s, t] = await Promise.all([digest(sourceClient, db, "big"), digest(targetClient, db, "big")]);
    expect(t).toEqual(s);
    const copied = await targetClient.db(db).collection<Loose>("big").findOne({ _id: new Int32(1) });
    expect(String(copied?.s).slice(0, 3)).toBe("bbb");
  });

  test("an engine process killed mid-copy (SIGKILL) is resumed from its checkpoint by the next run", async () => {
    const db = "crash";
    const items = sourceClient.db(db).collection<Loose>("items");
    await items.insertMany(Array.from({ length: ITEMS }, (_, i) => ({ _id: new Int32(i), pad: "p".repeat(200), i: new Int32(i) })));
    const spec = specFor(db, {}, { ...SMALL_BATCHES, parallelCollections: 1 });

    // The child shares nothing with this process but the two servers.
    const child = spawn(
      process.execPath,
      ["-r", path.join(__dirname, "register-ts.js"), path.join(__dirname, "crash-child.ts"), JSON.stringify(spec), "4"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (c) => (output += c));
    child.stderr.on("data", (c) => (output += c));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, sig) => resolve(sig)));
    expect({ signal, output }).toMatchObject({ signal: "SIGKILL" });

    // What the dead process left: a checkpoint part-way through the copy, its lease still in place.
    const [checkpoint] = await targetClient.db("__atlas_migration").collection("checkpoints").find({ _id: `${spec.migrationId}/state` as never }).toArray();
    const copied = checkpoint?.value?.copy?.copiedDocuments as number;
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThan(ITEMS);
    expect(checkpoint?.value?.lease).not.toBeNull();
    const onTargetAtCrash = await targetClient.db(db).collection("items").countDocuments();
    expect(onTargetAtCrash).toBeGreaterThanOrEqual(copied);

    // The next run (a later `pulumi up`), once the dead lease has expired on the shared virtual clock.
    const ctx = makeContext({ deadlineMs: 240_000 });
    ctx.advance(120_000);
    let rerunBatches = 0;
    const engine = createBuiltinEngine({ hooks: { afterCopyBatch: () => void (rerunBatches += 1) } });
    const handle = await engine.start(spec, ctx);
    expect(ctx.lines.join("\n")).toMatch(/resuming migration/);
    const status = await engine.advance(spec, handle, ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    // It went on from the checkpoint rather than starting over (a start-over re-copies all ITEMS documents),
    // and skipped nothing that was not on the target yet.
    expect(status.copiedDocuments).toBe(ITEMS);
    const rerunCopied = engine.lastMetrics.copiedDocuments;
    expect(rerunCopied).toBeLessThan(ITEMS);
    expect(rerunCopied).toBeGreaterThanOrEqual(ITEMS - onTargetAtCrash);
    expect(rerunBatches).toBeGreaterThan(0);

    const report = await engine.cutover(spec, handle, ctx);
    expect(report.verification.passed).toBe(true);
    const [s, t] = await Promise.all([digest(sourceClient, db, "items"), digest(targetClient, db, "items")]);
    expect(t).toEqual(s);
  });
});
