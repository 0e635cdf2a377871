// Verification compares what each side stores (issue 8, finding 14). Before, both sides were decoded through
// js-bson and re-encoded before hashing, so a DBPointer that the copy turned into an embedded {$ref, $id, $db},
// DBRef fields it reordered, duplicate field names it collapsed and a BSON undefined it wrote as null all hashed
// the same on both sides: verification passed for documents the target does not hold as the source does.
import { Int32, ObjectId } from "mongodb";
import { storedId, unwritableReason } from "../../../provider/cluster/raw-bson";
import { verifyNamespaces } from "../../../provider/engines/builtin/verify";
import { MemoryCluster } from "../../../testing/memory-cluster";
import { POINTED, el, rawDocument, throughDriver } from "../../support/raw-bson";

const NS = { db: "shop", coll: "legacy" };

/** Each document the driver cannot write back exactly, with what the detector says about it. */
const UNWRITABLE: Array<[string, Buffer, RegExp]> = [
  ["DBPointer", rawDocument(el.int32("_id", 1), el.dbPointer("owner", "shop.users", POINTED)), /DBPointer type at "owner"/],
  ["undefined in an array", rawDocument(el.int32("_id", 2), el.array("tags", el.undefined("0"))), /undefined type at "tags.0"/],
  ["duplicate field names", rawDocument(el.int32("_id", 3), el.string("a", "first"), el.string("a", "second")), /duplicate field name "a"/],
  ["duplicate names in an embedded document", rawDocument(el.int32("_id", 4), el.document("x", rawDocument(el.int32("k", 1), el.int32("k", 2)))), /duplicate field name "x.k"/],
  ["a DBRef with $id before $ref", rawDocument(el.int32("_id", 5), el.document("ref", rawDocument(el.objectId("$id", POINTED), el.string("$ref", "users")))), /DBRef/],
  ["a DBRef whose $ref names a database", rawDocument(el.int32("_id", 6), el.document("ref", rawDocument(el.string("$ref", "shop.users"), el.objectId("$id", POINTED)))), /DBRef/],
];

describe("stored bytes", () => {
  test.each(UNWRITABLE)("%s: the driver's round trip changes the bytes, and the detector says where", (_name, bytes, reason) => {
    expect(throughDriver(bytes).equals(bytes)).toBe(false);
    expect(unwritableReason(bytes)).toMatch(reason);
  });

  test("documents the driver writes back byte for byte are not flagged", () => {
    const canonicalRef = rawDocument(el.int32("_id", 7), el.document("ref", rawDocument(el.string("$ref", "users"), el.objectId("$id", POINTED))));
    const ordinary = rawDocument(el.int32("_id", 8), el.string("name", "x"), el.array("list", el.int32("0", 1), el.int32("1", 2)));
    for (const bytes of [canonicalRef, ordinary]) {
      expect(throughDriver(bytes).equals(bytes)).toBe(true);
      expect(unwritableReason(bytes)).toBeUndefined();
    }
  });

  test("storedId reads the _id from the bytes, type kept, wherever it is in the document", () => {
    expect(storedId(rawDocument(el.string("a", "x"), el.int32("_id", 9)))).toEqual(new Int32(9));
    const oid = new ObjectId();
    expect((storedId(rawDocument(el.objectId("_id", oid))) as ObjectId).equals(oid)).toBe(true);
    expect(storedId(rawDocument(el.string("a", "x")))).toBeUndefined();
  });
});

describe("verifyNamespaces hashes the stored bytes", () => {
  afterEach(() => MemoryCluster.reset());

  test.each(UNWRITABLE)("%s as the source stores it vs as the driver wrote it: a mismatch naming the _id and the cause", async (_name, bytes) => {
    const source = new MemoryCluster();
    const target = new MemoryCluster();
    source.insertRawBson(NS.db, NS.coll, bytes);
    target.insertRawBson(NS.db, NS.coll, throughDriver(bytes));
    const report = await verifyNamespaces(source, target, [NS], "full");
    expect(report.passed).toBe(false);
    const [entry] = report.namespaces;
    expect(entry).toMatchObject({ sourceCount: 1, targetCount: 1, match: false });
    expect(entry.sampleMismatchedIds).toEqual([expect.stringMatching(/^\{"\$numberInt":"\d"\} \(the source stores .*, which the Node\.js driver cannot write as it is\)$/)]);
  });

  test("identical bytes pass; the same bytes in another field order do not", async () => {
    const source = new MemoryCluster();
    const target = new MemoryCluster();
    const same = rawDocument(el.int32("_id", 1), el.dbPointer("p", "a.b", POINTED), el.int32("x", 1));
    source.insertRawBson(NS.db, NS.coll, same);
    target.insertRawBson(NS.db, NS.coll, same);
    source.insertRawBson(NS.db, NS.coll, rawDocument(el.int32("_id", 2), el.int32("x", 1), el.int32("y", 2)));
    target.insertRawBson(NS.db, NS.coll, rawDocument(el.int32("_id", 2), el.int32("y", 2), el.int32("x", 1)));
    const report = await verifyNamespaces(source, target, [NS], "full");
    expect(report.namespaces[0].sampleMismatchedIds).toEqual(['{"$numberInt":"2"}']);
    await target.db(NS.db).collection<{ _id: number }>(NS.coll).deleteOne({ _id: 2 });
    await source.db(NS.db).collection<{ _id: number }>(NS.coll).deleteOne({ _id: 2 });
    expect((await verifyNamespaces(source, target, [NS], "full")).passed).toBe(true);
  });
});
