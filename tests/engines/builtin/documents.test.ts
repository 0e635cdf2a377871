// Documents mongod stores that the driver's ordinary writes cannot carry as they are: top-level `$`-prefixed
// fields (finding 7) and the deprecated BSON undefined type (finding 8).
import { BSON, Int32 } from "mongodb";
import { MemoryCluster } from "../../../testing/memory-cluster";
import { POINTED, el, rawDocument } from "../../support/raw-bson";
import { compare, exactDocs, expectIdentical, rig, syncUntilReady } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

const PRICES = { db: "shop", coll: "prices" };

describe("top-level $-prefixed fields (MongoDB 5.0+ stores them)", () => {
  // Before: replay overwrote the document with replaceOne, which mongod refuses for a replacement holding
  // top-level $ fields (DollarPrefixedFieldName, 52) — the sync failed on the same event on every run.
  test("copied, replayed after an update, and verified", async () => {
    const r = rig();
    const prices = r.source.db("shop").collection<AnyDoc>("prices");
    await prices.insertMany([{ _id: 1, $amount: 5, cur: "EUR" }, { _id: 2, n: 1 }]);
    const { handle, status } = await syncUntilReady(r);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    await prices.updateOne({ _id: 1 }, { $set: { cur: "USD" } });
    await prices.insertOne({ _id: 3, $amount: 7 });
    expect((await r.engine.advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    expectIdentical(await compare(r.source, r.target, PRICES));
  });
});

/** `{ _id: <id>, a: undefined (BSON 0x06), b: [undefined] }` as raw BSON, the way a legacy driver stored it. */
function withUndefined(id: number): Buffer {
  const head = Buffer.from(BSON.serialize({ _id: id }));
  const body = head.subarray(4, head.length - 1); // the _id element
  const a = Buffer.from([0x06, 0x61, 0x00]); // "a": undefined
  const array = Buffer.from([0x08, 0x00, 0x00, 0x00, 0x06, 0x30, 0x00, 0x00]); // [undefined]
  const b = Buffer.concat([Buffer.from([0x04, 0x62, 0x00]), array]);
  const doc = Buffer.concat([Buffer.alloc(4), body, a, b, Buffer.from([0x00])]);
  doc.writeInt32LE(doc.length, 0);
  return doc;
}

describe("BSON undefined", () => {
  // First: the copy wrote undefined as null while verification hashed the source with the field dropped, so
  // verification could never pass. Then verification re-encoded both sides the driver's way (undefined as null)
  // and passed for documents the target does not store as the source does. Then it compared the stored bytes and
  // failed — but only after the source's writes were blocked. Now the cutover refuses before blocking, naming the
  // documents; `verification: "counts"` or rewriting them on the source lets it proceed.
  test("is written as null (the driver cannot write undefined), warned by _id, and the cutover refuses before blocking", async () => {
    const r = rig();
    r.source.insertRawBson("shop", "legacy", withUndefined(1));
    await r.source.db("shop").collection<AnyDoc>("legacy").insertOne({ _id: 2, a: null });
    expect((await exactDocs(r.source, { db: "shop", coll: "legacy" }))[0]).toEqual({ _id: new Int32(1), a: undefined, b: [undefined] });
    const { handle, status } = await syncUntilReady(r);
    expect(status.warnings.join("\n")).toMatch(/shop\.legacy _id \{"\$numberInt":"1"\}: the source stores the deprecated BSON undefined type at "a"/);
    r.source.insertRawBson("shop", "legacy", withUndefined(3)); // replayed too
    await expect(r.engine.cutover(r.spec, handle, r.ctx)).rejects.toThrow(
      /^cutover refused before blocking any source writes \(UNWRITABLE_DOCUMENTS\): 2 source document\(s\) .*shop\.legacy _id \{"\$numberInt":"1"\} \(stores the deprecated BSON undefined type at "a".*shop\.legacy _id \{"\$numberInt":"3"\} .*Nothing was blocked/,
    );
    const after = await r.engine.status(r.spec, handle, r.ctx);
    expect(after.phase).toBe("READY_FOR_CUTOVER");
    // With counts, the cutover proceeds and the target holds what the driver could write.
    const counted = { ...r.spec, verification: "counts" as const };
    const report = await r.engine.cutover(counted, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    const copied = await exactDocs(r.target, { db: "shop", coll: "legacy" });
    expect(copied.map((d) => [d.a, d.b])).toEqual([[null, [null]], [null, undefined], [null, [null]]]);
  });

  test("rewritten on the source before the cutover: the refusal and the warnings go, full verification passes", async () => {
    const r = rig();
    r.source.insertRawBson("shop", "legacy", withUndefined(1));
    const { handle, status } = await syncUntilReady(r);
    expect(status.warnings.some((w) => w.startsWith("shop.legacy _id "))).toBe(true);
    await r.source.db("shop").collection<AnyDoc>("legacy").replaceOne({ _id: new Int32(1) }, { a: null, b: [null] });
    expect((await r.engine.advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    const done = await r.engine.status(r.spec, handle, r.ctx);
    expect(done.warnings.some((w) => w.startsWith("shop.legacy"))).toBe(false);
  });
});

describe("DBPointer, duplicate field names and DBRef field order (finding 14)", () => {
  // Before: the copy wrote a DBPointer as an embedded {$ref, $id, $db}, collapsed duplicate names and reordered
  // DBRef fields, and verification (both sides decoded and re-encoded) passed. Now each such document is named in
  // a warning during the copy and full verification fails for it; the documents the driver can carry pass.
  test("named in warnings by namespace and _id during the copy; verification fails for them only", async () => {
    const r = rig();
    const docs = [
      rawDocument(el.int32("_id", 1), el.dbPointer("owner", "shop.users", POINTED)),
      rawDocument(el.int32("_id", 2), el.string("a", "first"), el.string("a", "second")),
      rawDocument(el.int32("_id", 3), el.document("ref", rawDocument(el.objectId("$id", POINTED), el.string("$ref", "users")))),
      rawDocument(el.int32("_id", 4), el.document("ref", rawDocument(el.string("$ref", "users"), el.objectId("$id", POINTED)))),
    ];
    for (const d of docs) r.source.insertRawBson("shop", "refs", d);
    const { handle, status } = await syncUntilReady(r);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    const warned = status.warnings.filter((w) => w.startsWith("shop.refs _id "));
    expect(warned).toEqual([
      expect.stringMatching(/^shop\.refs _id \{"\$numberInt":"1"\}: the source stores the deprecated BSON DBPointer type at "owner"/),
      expect.stringMatching(/^shop\.refs _id \{"\$numberInt":"2"\}: the source stores a duplicate field name "a"/),
      expect.stringMatching(/^shop\.refs _id \{"\$numberInt":"3"\}: the source stores an embedded \{\$ref, \$id\} document/),
    ]);
    let message = "";
    try {
      await r.engine.cutover(r.spec, handle, r.ctx);
    } catch (err) {
      message = (err as Error).message;
    }
    // Refused before blocking (before: verification failed after the source's writes were blocked).
    expect(message).toMatch(/^cutover refused before blocking any source writes \(UNWRITABLE_DOCUMENTS\): 3 source document\(s\) .*\{"\$numberInt":"1"\} .*DBPointer.*\{"\$numberInt":"2"\} .*duplicate.*\{"\$numberInt":"3"\} .*\$ref.*Nothing was blocked/);
    expect((await r.engine.status(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    expect(message).not.toContain('{"$numberInt":"4"}');
  });

  test("one that arrives by replay (no warning during the sync) still fails full verification, by _id", async () => {
    const r = rig();
    await r.source.db("shop").collection<AnyDoc>("refs").insertOne({ _id: 9, n: 1 });
    const { handle } = await syncUntilReady(r);
    r.source.insertRawBson("shop", "refs", rawDocument(el.int32("_id", 1), el.dbPointer("owner", "shop.users", POINTED)));
    expect((await r.engine.advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    await expect(r.engine.cutover(r.spec, handle, r.ctx)).rejects.toThrow(/^verification failed: shop\.refs \(source 2 docs, target 2; e\.g\. _id \{"\$numberInt":"1"\} .*DBPointer/);
  });
});

describe("numeric field names (a JS object puts them first)", () => {
  // Before: {_id, name, "2023": …} was decoded into a JS object, which orders "2023" first, and written back as
  // {"2023", _id, name}: the target held the fields in another order and full verification failed only once the
  // source was blocked. Now the copy names the document and the cutover refuses before blocking; a document whose
  // numeric names already come first, ascending, is carried as it is.
  test("warned by _id during the copy; the cutover refuses before blocking; documents the driver keeps pass", async () => {
    const r = rig();
    r.source.insertRawBson("shop", "sales", rawDocument(el.int32("_id", 1), el.string("name", "x"), el.document("byYear", rawDocument(el.int32("2024", 1), el.int32("2023", 2)))));
    r.source.insertRawBson("shop", "sales", rawDocument(el.int32("_id", 2), el.string("name", "y"), el.document("byYear", rawDocument(el.int32("2023", 2), el.int32("2024", 1)))));
    const { handle, status } = await syncUntilReady(r);
    const warned = status.warnings.filter((w) => w.startsWith("shop.sales _id "));
    expect(warned).toEqual([expect.stringMatching(/^shop\.sales _id \{"\$numberInt":"1"\}: the source stores a numeric field name "byYear\.2023"/)]);
    await expect(r.engine.cutover(r.spec, handle, r.ctx)).rejects.toThrow(/^cutover refused before blocking any source writes \(UNWRITABLE_DOCUMENTS\): 1 source document\(s\) .*numeric field name "byYear\.2023".*Nothing was blocked/);
    // The one the driver keeps arrived byte for byte.
    const [kept] = (await exactDocs(r.target, { db: "shop", coll: "sales" })).filter((d) => Number(d._id) === 2);
    expect(Object.keys(kept.byYear as object)).toEqual(["2023", "2024"]);
  });
});

describe("transactions on MongoDB 8.0", () => {
  // Before: the 8.0 endOfTransaction event (no `ns`) was taken for DDL on every database and the sync FAILED.
  test("endOfTransaction events are ignored; the transaction's writes are replayed", async () => {
    const r = rig({ source: { version: "8.0.4" }, target: { version: "8.0.4" } });
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    await orders.insertOne({ _id: 0 });
    const { handle } = await syncUntilReady(r);
    await r.source.withTransaction(async () => {
      await orders.insertOne({ _id: 1 });
      await orders.updateOne({ _id: 0 }, { $set: { paid: true } });
    });
    const status = await r.engine.advance(r.spec, handle, r.ctx);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });
});
