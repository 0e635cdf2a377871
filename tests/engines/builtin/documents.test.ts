// Documents mongod stores that the driver's ordinary writes cannot carry as they are: top-level `$`-prefixed
// fields (finding 7) and the deprecated BSON undefined type (finding 8).
import { BSON, Int32 } from "mongodb";
import { MemoryCluster } from "../../../testing/memory-cluster";
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
  // Before: the copy wrote undefined as null while verification hashed the source with the field dropped:
  // verification could never pass, with the source write-blocked.
  test("is carried as the driver can write it (null), said in warnings, and verification passes", async () => {
    const r = rig();
    r.source.insertRawBson("shop", "legacy", withUndefined(1));
    await r.source.db("shop").collection<AnyDoc>("legacy").insertOne({ _id: 2, a: null });
    expect((await exactDocs(r.source, { db: "shop", coll: "legacy" }))[0]).toEqual({ _id: new Int32(1), a: undefined, b: [undefined] });
    const { handle } = await syncUntilReady(r);
    r.source.insertRawBson("shop", "legacy", withUndefined(3)); // replayed too
    const report = await r.engine.cutover(r.spec, handle, r.ctx);
    expect(report.verification.passed).toBe(true);
    expect(report.warnings.join("\n")).toMatch(/shop\.legacy holds documents with the deprecated BSON undefined type; .* stored as null/);
    const copied = await exactDocs(r.target, { db: "shop", coll: "legacy" });
    expect(copied.map((d) => [d.a, d.b])).toEqual([[null, [null]], [null, undefined], [null, [null]]]);
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
