// How replay tells documents apart without an EJSON string per event.
//
// idKey: the key a batch deduplicates by. Equal keys ⇔ the same BSON value, type included: Int32 1, Double 1.0,
// Int64 1 and "1" are four keys. mongod holds 1, 1.0 and Long 1 as the SAME `_id` (the _id index compares numbers
// by value; provider/cluster/bson-order.ts compareBson), yet replay keeps them apart on purpose: each keeps its
// own newest operation, and the operations run in the order of their keys' last occurrence in an ordered bulk
// write, so the document's last event still wins and the target ends with the `_id` type the source has (a
// merged key would keep only the last operation — a replacement of a document the target may hold under the
// other type — and leave the stored `_id` type to the server). Splitting a document over two keys is therefore
// safe; merging two documents into one key never happens.
//   fast paths (no serialization): string, ObjectId, Int32 and JS integers that serialize as int32, Int64;
//   everything else: its BSON bytes, exact by construction.
//
// laneOf: which of the parallel writers applies a document. Values mongod holds as the same `_id` (numerically
// equal numbers of any type) always share a lane, so their operations stay in one ordered write.
import { BSON, type ObjectId } from "mongodb";

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** The BSON bytes of `{ v: id }` as a string (latin1 maps each byte to one char, so distinct bytes stay distinct). */
function bytesKey(id: unknown): string {
  return `b${Buffer.from(BSON.serialize({ v: id })).toString("latin1")}`;
}

/**
 * An exact key for a document `_id`. Each tag is one leading character naming the BSON type, so keys of different
 * types never meet; a JS number is keyed as the type the driver serializes it as (bson serializeNumber: a safe
 * integer within int32 range, not -0, is an int32; anything else a double, which takes the byte path).
 */
export function idKey(id: unknown): string {
  switch (typeof id) {
    case "string":
      return `s${id}`;
    case "number":
      if (Number.isInteger(id) && id >= INT32_MIN && id <= INT32_MAX && !Object.is(id, -0)) return `i${id}`;
      return bytesKey(id);
    case "object": {
      if (id === null) return bytesKey(id);
      switch ((id as { _bsontype?: unknown })._bsontype) {
        case "ObjectId":
          return `o${(id as ObjectId).toHexString()}`;
        case "Int32":
          return `i${(id as { value: number }).value}`;
        case "Long": {
          // The 64 bits, not the decimal text (an unsigned Long with the same bits serializes the same).
          const long = id as { high: number; low: number };
          return `l${long.high}:${long.low}`;
        }
        default:
          return bytesKey(id);
      }
    }
    default:
      return bytesKey(id);
  }
}

/** A number-typed value as a double (equal values give equal doubles), or undefined when it is no number. */
function numericValue(id: unknown): number | undefined {
  if (typeof id === "number") return id;
  switch ((id as { _bsontype?: unknown } | null)?._bsontype) {
    case "Int32":
    case "Double":
      return (id as { value: number }).value;
    case "Long":
      return (id as { toNumber(): number }).toNumber();
    case "Decimal128":
      return Number.parseFloat((id as { toString(): string }).toString());
    default:
      return undefined;
  }
}

function stringHash(s: string): number {
  // FNV-1a over UTF-16 code units: deterministic, cheap, spreads short keys.
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The lane (0 … lanes-1) of a document `_id`. */
export function laneOf(id: unknown, lanes: number): number {
  if (lanes <= 1) return 0;
  if (typeof id === "string") return stringHash(id) % lanes;
  const n = numericValue(id);
  if (n !== undefined) {
    // -0 and 0, and every NaN, are one value to mongod.
    if (!Number.isFinite(n) || n === 0) return 0;
    return Math.abs(Math.floor(n)) % lanes;
  }
  if ((id as { _bsontype?: unknown } | null)?._bsontype === "ObjectId") {
    const bytes = (id as ObjectId).id;
    // The counter's low bytes (ObjectIds made by one process differ there first).
    return ((bytes[11] | (bytes[10] << 8)) >>> 0) % lanes;
  }
  // Dates, binaries, documents, …: one lane keeps any two that mongod holds equal together.
  return 0;
}
