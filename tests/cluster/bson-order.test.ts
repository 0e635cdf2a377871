// BSON comparison and keys: the ordering and equality MemoryCluster's `_id` index and unique indexes rely on.
import { Binary, BSONRegExp, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } from "mongodb";
import { bsonEquals, bsonKey, cloneDocument, cloneValue, compareBson } from "../../provider/cluster/bson-order";

describe("compareBson", () => {
  test("numbers compare by exact value across Int32, Long, Double and Decimal128", () => {
    expect(compareBson(new Int32(1), new Double(1.0))).toBe(0);
    expect(compareBson(new Long(1), 1)).toBe(0);
    expect(compareBson(Decimal128.fromString("1.000"), new Int32(1))).toBe(0);
    expect(compareBson(new Long("9007199254740993"), new Double(9007199254740992))).toBe(1);
    expect(compareBson(new Long("-9007199254740993"), new Double(-9007199254740992))).toBe(-1);
    // The double nearest 0.1 is slightly above one tenth.
    expect(compareBson(new Double(0.1), Decimal128.fromString("0.1"))).toBe(1);
    expect(compareBson(Decimal128.fromString("1E+3"), new Int32(1000))).toBe(0);
    expect(compareBson(new Double(-0), new Int32(0))).toBe(0);
  });

  test("NaN sorts below every number and infinities bound the rest", () => {
    expect(compareBson(new Double(NaN), new Double(-Infinity))).toBe(-1);
    expect(compareBson(Decimal128.fromString("NaN"), new Double(NaN))).toBe(0);
    expect(compareBson(new Double(Infinity), new Long("9223372036854775807"))).toBe(1);
    expect(compareBson(Decimal128.fromString("-Infinity"), new Double(-1e308))).toBe(-1);
  });

  test("types follow MongoDB's order", () => {
    const ascending = [new MinKey(), null, new Int32(5), "s", { a: 1 }, [1], new Binary(Buffer.from([1])), new ObjectId(), false, new Date(0), new Timestamp({ t: 0, i: 1 }), new BSONRegExp("a", ""), new MaxKey()];
    for (let i = 0; i + 1 < ascending.length; i++) {
      expect(compareBson(ascending[i], ascending[i + 1])).toBe(-1);
      expect(compareBson(ascending[i + 1], ascending[i])).toBe(1);
    }
    expect(compareBson(undefined, null)).toBe(0);
  });

  test("within a type: strings by UTF-8 bytes, objects field by field, binaries by length then subtype", () => {
    expect(compareBson("Z", "a")).toBe(-1);
    expect(compareBson("z", "é")).toBe(-1);
    expect(compareBson({ a: 1 }, { a: 1, b: 1 })).toBe(-1);
    expect(compareBson({ a: 2 }, { b: 1 })).toBe(-1);
    expect(compareBson({ a: "x" }, { a: 1 })).toBe(1); // value type before value
    expect(compareBson(new Binary(Buffer.from([9]), 5), new Binary(Buffer.from([0, 0]), 0))).toBe(-1);
    expect(compareBson(new Binary(Buffer.from([0, 0]), 0), new Binary(Buffer.from([0, 0]), 4))).toBe(-1);
    expect(compareBson(new Timestamp({ t: 1, i: 9 }), new Timestamp({ t: 2, i: 0 }))).toBe(-1);
    expect(compareBson(new Date(-1), new Date(0))).toBe(-1);
  });
});

describe("bsonKey", () => {
  test("equal exactly when compareBson says equal", () => {
    const values = [new Int32(1), new Long(1), new Double(1), Decimal128.fromString("1.0"), "1", { a: new Int32(1) }, { a: new Double(1) }, { a: 1, b: 2 }, { b: 2, a: 1 }, new Binary(Buffer.from([1]), 0), new Binary(Buffer.from([1]), 4), null, undefined];
    for (const a of values) {
      for (const b of values) expect(bsonKey(a) === bsonKey(b)).toBe(bsonEquals(a, b));
    }
  });
});

describe("cloning", () => {
  test("keeps BSON types exactly and shares nothing", () => {
    const original = { l: new Long(5), d: new Double(1), r: new BSONRegExp("x", "s"), b: new Binary(Buffer.from([1]), 0x80), nested: { arr: [new Int32(1)] } };
    const copy = cloneDocument(original);
    expect(copy).toEqual(original);
    expect(copy.nested).not.toBe(original.nested);
    expect(cloneValue(new Double(2))).toEqual(new Double(2));
  });
});
