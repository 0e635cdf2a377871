// BSON value ordering and exact copying, as MongoDB does it for `_id` order, equality and unique keys.
//
// MongoDB compares values of different types by a fixed type order, and numbers across their four types
// (Int32, Int64, Double, Decimal128) by numeric value: Int32 1, Long 1 and Double 1.0 are the same `_id`.
// MemoryCluster needs exactly this to scan in `_id` order, to find a document by `_id` and to enforce unique
// indexes; the conformance suite checks MongoClusterPort agrees.

import { BSON, type Document } from "mongodb";

/** Options that keep every BSON value exactly as stored (no promotion to JS numbers or RegExp). */
export const EXACT_BSON: BSON.DeserializeOptions = {
  promoteValues: false,
  promoteLongs: false,
  promoteBuffers: false,
  bsonRegExp: true,
};

/** Serializes a document to BSON bytes (undefined fields dropped, as the driver does by default). */
/**
 * A document's BSON as the driver sends it: a JS `undefined` becomes null (the driver's ignoreUndefined defaults
 * to false; MongoClientOptions docs), not dropped as BSON.serialize's own default would.
 */
export function toBson(doc: Document): Buffer {
  return Buffer.from(BSON.serialize(doc, { ignoreUndefined: false }));
}

/** Reads BSON bytes keeping every type exactly (or with the given driver-style promotion options). */
export function fromBson(bytes: Uint8Array, options: BSON.DeserializeOptions = EXACT_BSON): Document {
  return BSON.deserialize(bytes, options);
}

/** A deep copy through BSON, so the copy shares nothing with the original and types survive exactly. */
export function cloneDocument(doc: Document): Document {
  return fromBson(toBson(doc));
}

/** A deep copy of a single value (e.g. an `_id`), with types kept exactly. */
export function cloneValue<T = unknown>(value: unknown): T {
  return fromBson(toBson({ v: value })).v as T;
}

// MongoDB's canonical type order (lower sorts first). Symbol sorts with strings, undefined with null.
const RANK = {
  minKey: 1,
  null: 2,
  number: 3,
  string: 4,
  object: 5,
  array: 6,
  binary: 7,
  objectId: 8,
  boolean: 9,
  date: 10,
  timestamp: 11,
  regex: 12,
  code: 13,
  codeWithScope: 14,
  maxKey: 100,
} as const;

type Rank = (typeof RANK)[keyof typeof RANK];

function bsonType(value: unknown): string | undefined {
  if (value !== null && typeof value === "object") {
    const tag = (value as { _bsontype?: unknown })._bsontype;
    if (typeof tag === "string") return tag;
  }
  return undefined;
}

/** The canonical type rank of a value (MongoDB's cross-type sort order). */
export function typeRank(value: unknown): Rank {
  if (value === null || value === undefined) return RANK.null;
  switch (typeof value) {
    case "number":
    case "bigint":
      return RANK.number;
    case "string":
      return RANK.string;
    case "boolean":
      return RANK.boolean;
  }
  switch (bsonType(value)) {
    case "MinKey":
      return RANK.minKey;
    case "MaxKey":
      return RANK.maxKey;
    case "Int32":
    case "Double":
    case "Long":
    case "Decimal128":
      return RANK.number;
    case "BSONSymbol":
      return RANK.string;
    case "Binary":
      return RANK.binary;
    case "ObjectId":
      return RANK.objectId;
    case "Timestamp":
      return RANK.timestamp;
    case "BSONRegExp":
      return RANK.regex;
    case "Code":
      return (value as { scope?: unknown }).scope ? RANK.codeWithScope : RANK.code;
    case "DBRef":
      return RANK.object;
  }
  if (value instanceof Date) return RANK.date;
  if (value instanceof RegExp) return RANK.regex;
  if (Array.isArray(value)) return RANK.array;
  if (value instanceof Uint8Array) return RANK.binary;
  return RANK.object;
}

// ---- numbers: every numeric value becomes an exact decimal (coefficient × 10^exponent) -----------------

type ExactNumber =
  | { kind: "nan" }
  | { kind: "inf"; sign: 1 | -1 }
  | { kind: "finite"; coefficient: bigint; exponent: number };

function exactFromDouble(x: number): ExactNumber {
  if (Number.isNaN(x)) return { kind: "nan" };
  if (!Number.isFinite(x)) return { kind: "inf", sign: x > 0 ? 1 : -1 };
  if (Number.isInteger(x)) return { kind: "finite", coefficient: BigInt(x), exponent: 0 };
  // A finite double is m × 2^e exactly; m × 2^e = m × 5^-e × 10^e for negative e.
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const biasedExp = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  let mantissa = biasedExp === 0 ? fraction : fraction | (1n << 52n);
  let exp2 = (biasedExp === 0 ? 1 : biasedExp) - 1075;
  if (negative) mantissa = -mantissa;
  if (exp2 >= 0) return { kind: "finite", coefficient: mantissa << BigInt(exp2), exponent: 0 };
  return { kind: "finite", coefficient: mantissa * 5n ** BigInt(-exp2), exponent: exp2 };
}

function exactFromDecimalString(text: string): ExactNumber {
  const s = text.trim();
  if (/nan/i.test(s)) return { kind: "nan" };
  if (/inf/i.test(s)) return { kind: "inf", sign: s.startsWith("-") ? -1 : 1 };
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(s);
  if (!match) return { kind: "nan" };
  const [, sign, whole, frac = "", exp = "0"] = match;
  const digits = `${whole}${frac}` || "0";
  let coefficient = BigInt(digits);
  if (sign === "-") coefficient = -coefficient;
  return { kind: "finite", coefficient, exponent: Number(exp) - frac.length };
}

function exactNumber(value: unknown): ExactNumber {
  if (typeof value === "number") return exactFromDouble(value);
  if (typeof value === "bigint") return { kind: "finite", coefficient: value, exponent: 0 };
  switch (bsonType(value)) {
    case "Int32":
    case "Double":
      return exactFromDouble((value as { value: number }).value);
    case "Long":
      return { kind: "finite", coefficient: BigInt((value as { toString(): string }).toString()), exponent: 0 };
    case "Decimal128":
      return exactFromDecimalString((value as { toString(): string }).toString());
  }
  return { kind: "nan" };
}

function compareExact(a: ExactNumber, b: ExactNumber): number {
  // MongoDB sorts NaN below every other number.
  if (a.kind === "nan" || b.kind === "nan") return a.kind === b.kind ? 0 : a.kind === "nan" ? -1 : 1;
  if (a.kind === "inf" || b.kind === "inf") {
    const av = a.kind === "inf" ? a.sign * 2 : 0;
    const bv = b.kind === "inf" ? b.sign * 2 : 0;
    if (a.kind === "inf" && b.kind === "inf") return Math.sign(av - bv);
    if (a.kind === "inf") return a.sign;
    return -(b as { sign: number }).sign;
  }
  const shift = a.exponent - b.exponent;
  const left = shift > 0 ? a.coefficient * 10n ** BigInt(shift) : a.coefficient;
  const right = shift < 0 ? b.coefficient * 10n ** BigInt(-shift) : b.coefficient;
  return left < right ? -1 : left > right ? 1 : 0;
}

/** A normalized text for a number, equal for numerically equal values of any numeric type. */
function numberKey(value: unknown): string {
  const n = exactNumber(value);
  if (n.kind !== "finite") return n.kind === "nan" ? "nan" : n.sign > 0 ? "+inf" : "-inf";
  let { coefficient, exponent } = n;
  if (coefficient === 0n) return "0";
  while (coefficient % 10n === 0n) {
    coefficient /= 10n;
    exponent += 1;
  }
  return `${coefficient}e${exponent}`;
}

// ---- other types ---------------------------------------------------------------------------------------

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Math.sign(Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
}

function stringValue(value: unknown): string {
  if (typeof value === "string") return value;
  return String((value as { value?: unknown }).value ?? value);
}

function binaryParts(value: unknown): { subtype: number; bytes: Uint8Array } {
  if (value instanceof Uint8Array) return { subtype: 0, bytes: value };
  const binary = value as { sub_type: number; value(): Uint8Array; buffer: Uint8Array; position: number };
  const bytes = binary.buffer.subarray(0, binary.position);
  return { subtype: binary.sub_type, bytes };
}

function regexParts(value: unknown): { pattern: string; flags: string } {
  if (value instanceof RegExp) return { pattern: value.source, flags: value.flags.split("").sort().join("") };
  const r = value as { pattern: string; options: string };
  return { pattern: r.pattern, flags: r.options };
}

function timestampParts(value: unknown): { t: number; i: number } {
  const ts = value as { high: number; low: number };
  return { t: ts.high >>> 0, i: ts.low >>> 0 };
}

function entriesOf(value: unknown): Array<[string, unknown]> {
  if (bsonType(value) === "DBRef") {
    const ref = value as { toJSON(): Document };
    return Object.entries(ref.toJSON());
  }
  return Object.entries(value as Document);
}

/**
 * Compares two BSON values the way MongoDB sorts them: -1, 0 or 1. Numbers of different numeric types
 * compare by value; strings byte-wise (the simple collation); objects field by field (type, name, value).
 */
export function compareBson(a: unknown, b: unknown): number {
  const rankA = typeRank(a);
  const rankB = typeRank(b);
  if (rankA !== rankB) return rankA < rankB ? -1 : 1;
  switch (rankA) {
    case RANK.minKey:
    case RANK.maxKey:
    case RANK.null:
      return 0;
    case RANK.number:
      return compareExact(exactNumber(a), exactNumber(b));
    case RANK.string:
      return compareBytes(Buffer.from(stringValue(a), "utf8"), Buffer.from(stringValue(b), "utf8"));
    case RANK.object: {
      const ea = entriesOf(a);
      const eb = entriesOf(b);
      for (let i = 0; i < Math.min(ea.length, eb.length); i++) {
        const [ka, va] = ea[i];
        const [kb, vb] = eb[i];
        const byType = typeRank(va) - typeRank(vb);
        if (byType !== 0) return Math.sign(byType);
        const byName = compareBytes(Buffer.from(ka), Buffer.from(kb));
        if (byName !== 0) return byName;
        const byValue = compareBson(va, vb);
        if (byValue !== 0) return byValue;
      }
      return Math.sign(ea.length - eb.length);
    }
    case RANK.array: {
      const aa = a as unknown[];
      const ab = b as unknown[];
      for (let i = 0; i < Math.min(aa.length, ab.length); i++) {
        const c = compareBson(aa[i], ab[i]);
        if (c !== 0) return c;
      }
      return Math.sign(aa.length - ab.length);
    }
    case RANK.binary: {
      // MongoDB: by length first, then subtype, then bytes.
      const ba = binaryParts(a);
      const bb = binaryParts(b);
      if (ba.bytes.length !== bb.bytes.length) return ba.bytes.length < bb.bytes.length ? -1 : 1;
      if (ba.subtype !== bb.subtype) return ba.subtype < bb.subtype ? -1 : 1;
      return compareBytes(ba.bytes, bb.bytes);
    }
    case RANK.objectId:
      return compareBytes((a as { id: Uint8Array }).id, (b as { id: Uint8Array }).id);
    case RANK.boolean:
      return a === b ? 0 : a ? 1 : -1;
    case RANK.date:
      return Math.sign((a as Date).getTime() - (b as Date).getTime());
    case RANK.timestamp: {
      const ta = timestampParts(a);
      const tb = timestampParts(b);
      return ta.t !== tb.t ? (ta.t < tb.t ? -1 : 1) : Math.sign(ta.i - tb.i);
    }
    case RANK.regex: {
      const ra = regexParts(a);
      const rb = regexParts(b);
      const byPattern = compareBytes(Buffer.from(ra.pattern), Buffer.from(rb.pattern));
      return byPattern !== 0 ? byPattern : compareBytes(Buffer.from(ra.flags), Buffer.from(rb.flags));
    }
    default: {
      const ca = String((a as { code?: unknown }).code);
      const cb = String((b as { code?: unknown }).code);
      return compareBytes(Buffer.from(ca), Buffer.from(cb));
    }
  }
}

/** True when MongoDB would treat the two values as equal (e.g. `{ _id: 1 }` matches Long 1 and Double 1.0). */
export function bsonEquals(a: unknown, b: unknown): boolean {
  return compareBson(a, b) === 0;
}

/**
 * A string that is equal for exactly the values `bsonEquals` calls equal; used as a map key for `_id`
 * lookups and unique-index keys.
 */
export function bsonKey(value: unknown): string {
  const rank = typeRank(value);
  switch (rank) {
    case RANK.minKey:
    case RANK.maxKey:
    case RANK.null:
      return `${rank}`;
    case RANK.number:
      return `${rank}:${numberKey(value)}`;
    case RANK.string:
      return `${rank}:${JSON.stringify(stringValue(value))}`;
    case RANK.object:
      return `${rank}{${entriesOf(value).map(([k, v]) => `${JSON.stringify(k)}:${bsonKey(v)}`).join(",")}}`;
    case RANK.array:
      return `${rank}[${(value as unknown[]).map(bsonKey).join(",")}]`;
    case RANK.binary: {
      const { subtype, bytes } = binaryParts(value);
      return `${rank}:${subtype}:${Buffer.from(bytes).toString("hex")}`;
    }
    case RANK.objectId:
      return `${rank}:${Buffer.from((value as { id: Uint8Array }).id).toString("hex")}`;
    case RANK.boolean:
      return `${rank}:${value ? 1 : 0}`;
    case RANK.date:
      return `${rank}:${(value as Date).getTime()}`;
    case RANK.timestamp: {
      const { t, i } = timestampParts(value);
      return `${rank}:${t}:${i}`;
    }
    case RANK.regex: {
      const { pattern, flags } = regexParts(value);
      return `${rank}:${JSON.stringify(pattern)}/${flags}`;
    }
    default:
      return `${rank}:${JSON.stringify(String((value as { code?: unknown }).code))}`;
  }
}
