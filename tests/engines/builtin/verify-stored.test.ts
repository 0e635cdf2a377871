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

describe("the detector agrees with the driver's own round trip", () => {
  // unwritableReason walks the bytes without decoding them (it runs on every copied document); its definition is
  // "the driver's round trip changes these bytes". Random documents built from what that round trip can change
  // (duplicate names at any depth, levels of more than 16 fields, undefined, DBPointer, {$ref, $id} in either
  // order, code with scope) and what it cannot: the two must agree on every one, and at every depth.
  function prng(seed: number): () => number {
    let x = seed >>> 0;
    return () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
  }

  function codeWithScope(key: string, code: string, scope: Buffer): Buffer {
    const codeBytes = Buffer.concat([Buffer.from(code, "utf8"), Buffer.from([0])]);
    const body = Buffer.concat([Buffer.alloc(4), codeBytes, scope]);
    const total = Buffer.alloc(4);
    total.writeInt32LE(4 + 4 + codeBytes.length + scope.length, 0);
    body.writeInt32LE(codeBytes.length, 0);
    return Buffer.concat([Buffer.from([0x0f]), Buffer.from(key + "\0", "utf8"), total, body]);
  }

  function randomDocument(random: () => number, depth: number, names: string[]): Buffer {
    const fields = random() < 0.1 ? 17 + Math.floor(random() * 8) : Math.floor(random() * 6);
    const parts: Buffer[] = [];
    const used: string[] = [];
    for (let i = 0; i < fields; i++) {
      const key = random() < 0.03 && used.length > 0 ? used[Math.floor(random() * used.length)] : names[Math.floor(random() * names.length)] + (random() < 0.5 ? "" : String(i));
      if (used.includes(key) && random() < 0.9) continue; // duplicates stay rare
      used.push(key);
      const pick = random();
      if (pick < 0.01) parts.push(el.undefined(key));
      else if (pick < 0.02) parts.push(el.dbPointer(key, "shop.users", POINTED));
      else if (pick < 0.04) {
        const canonical = random() < 0.5;
        const ref = el.string("$ref", random() < 0.8 ? "users" : "shop.users");
        const id = el.objectId("$id", POINTED);
        parts.push(el.document(key, rawDocument(...(canonical ? [ref, id] : [id, ref]))));
      } else if (pick < 0.2 && depth < 3) parts.push(el.document(key, randomDocument(random, depth + 1, names)));
      else if (pick < 0.3 && depth < 3) {
        // Now and then an element stored under a name other than its position (legacy writers did this).
        const shift = random() < 0.05 ? 1 : 0;
        const items = Array.from({ length: Math.floor(random() * 4) }, (_, k) =>
          random() < 0.5 ? el.int32(String(k + shift), k) : el.document(String(k + shift), randomDocument(random, depth + 1, names)),
        );
        parts.push(el.array(key, ...items));
      } else if (pick < 0.32 && depth < 3) parts.push(codeWithScope(key, "function () { return x; }", randomDocument(random, depth + 1, names)));
      else if (pick < 0.6) parts.push(el.string(key, "v".repeat(Math.floor(random() * 40))));
      else parts.push(el.int32(key, Math.floor(random() * 1000)));
    }
    return rawDocument(...parts);
  }

  test("on 3,000 random documents, flagged exactly when the round trip changes the bytes", () => {
    const random = prng(20261201);
    const names = ["a", "b", "name", "tags", "x", "", "é", "$id", "ref"];
    let flagged = 0;
    for (let n = 0; n < 3000; n++) {
      const bytes = rawDocument(el.int32("_id", n), ...(randomDocument(random, 0, names).length > 5 ? [el.document("d", randomDocument(random, 1, names))] : []), el.string("s", "x"));
      const changes = !throughDriver(bytes).equals(bytes);
      const reason = unwritableReason(bytes);
      if (changes !== (reason !== undefined)) throw new Error(`document ${n}: round trip ${changes ? "changes" : "keeps"} it, detector says ${reason ?? "nothing"}: ${bytes.toString("hex")}`);
      if (reason) flagged++;
    }
    // Both kinds occur often enough for the comparison to mean something.
    expect(flagged).toBeGreaterThan(100);
    expect(flagged).toBeLessThan(2900);
  });

  test("a duplicate past the 16th field of a level, and one in a code-with-scope's scope, are named with their path", () => {
    const many = Array.from({ length: 20 }, (_, i) => el.int32(`f${i}`, i));
    expect(unwritableReason(rawDocument(el.int32("_id", 1), el.document("wide", rawDocument(...many, el.int32("f3", 0)))))).toMatch(/duplicate field name "wide\.f3"/);
    expect(unwritableReason(rawDocument(el.int32("_id", 2), codeWithScope("fn", "x", rawDocument(el.int32("k", 1), el.int32("k", 2)))))).toMatch(/duplicate field name "fn\(scope\)\.k"/);
    expect(unwritableReason(rawDocument(el.int32("_id", 3), el.array("list", el.document("0", rawDocument(el.undefined("u"))))))).toMatch(/undefined type at "list\.0\.u"/);
  });

  test("numeric field names: kept when first and ascending, flagged where a JS object would move them", () => {
    // {_id, name, "2023": …}: a JS object puts "2023" first, so the driver would write {"2023", _id, name}.
    const late = rawDocument(el.int32("_id", 1), el.string("name", "x"), el.int32("2023", 5));
    expect(throughDriver(late).equals(late)).toBe(false);
    expect(unwritableReason(late)).toMatch(/numeric field name "2023"/);
    const descending = rawDocument(el.document("byYear", rawDocument(el.int32("2024", 1), el.int32("2023", 2))));
    expect(throughDriver(descending).equals(descending)).toBe(false);
    expect(unwritableReason(descending)).toMatch(/numeric field name "byYear\.2023"/);
    // First and ascending, or not index-like ("01", "-1", 2^32 − 1): the round trip keeps them, and so does the detector.
    for (const kept of [
      rawDocument(el.int32("1", 1), el.int32("10", 2), el.int32("_id", 3)),
      rawDocument(el.int32("_id", 1), el.int32("01", 2), el.int32("-1", 3), el.int32("4294967295", 4)),
    ]) {
      expect(throughDriver(kept).equals(kept)).toBe(true);
      expect(unwritableReason(kept)).toBeUndefined();
    }
    const misnamed = rawDocument(el.int32("_id", 2), el.array("list", el.int32("1", 1), el.int32("0", 2)));
    expect(throughDriver(misnamed).equals(misnamed)).toBe(false);
    expect(unwritableReason(misnamed)).toMatch(/array element stored under the name "list\.1" where the driver writes "0"/);
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
