// Documents as stored: raw BSON bytes, read without decoding them into JS objects.
//
// Verification hashes these bytes (what each side actually stores), and the copy uses them to find documents the
// Node.js driver cannot write back exactly. js-bson, which the driver decodes and encodes with, changes some
// values on the way through a JS object (node_modules/bson/lib/bson.cjs, deserializeObject/serializeInto):
// - DBPointer (0x0C) is decoded as a DBRef and written back as an embedded document {$ref, $id, $db};
// - the deprecated undefined (0x06) is decoded as JS undefined and written as null (or dropped);
// - duplicate field names collapse to the last value (a JS object has one property per name);
// - an embedded document that looks like a DBRef ($ref string, $id) is decoded as a DBRef and written back as
//   $ref, $id, other fields, $db — reordered — and a $ref "a.b" is split into $ref "b" and $db "a".
// - a document whose numeric field names ("0", "2023", …) are not already first and ascending comes back in the
//   order a JS object keeps them (numeric names first); an array comes back with the element names "0", "1", ….
// mongod stores all of these as given (bsonspec.org lists 0x06 and 0x0C as deprecated, not forbidden; docs
// core/document "Field Names": BSON documents may have more than one field with the same name).
//
// Element layout per bsonspec.org: type byte, key cstring, value (sizes below).

import { BSON } from "mongodb";
import { EXACT_BSON } from "./bson-order";

function int32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/** Index just past the NUL ending a cstring that starts at `at`. */
function cstringEnd(bytes: Uint8Array, at: number): number {
  while (bytes[at] !== 0) {
    if (at >= bytes.length) throw new Error("corrupt BSON: unterminated field name");
    at++;
  }
  return at + 1;
}

/** Size of the value of an element of `type` starting at `at`. */
function valueSize(bytes: Uint8Array, type: number, at: number): number {
  switch (type) {
    case 0x01: // double
    case 0x09: // UTC datetime
    case 0x11: // timestamp
    case 0x12: // int64
      return 8;
    case 0x02: // string
    case 0x0d: // JavaScript code
    case 0x0e: // symbol
      return 4 + int32(bytes, at);
    case 0x03: // embedded document
    case 0x04: // array
    case 0x0f: // code with scope (total length first)
      return int32(bytes, at);
    case 0x05: // binary: length, subtype, bytes
      return 4 + 1 + int32(bytes, at);
    case 0x06: // undefined (deprecated)
    case 0x0a: // null
    case 0xff: // min key
    case 0x7f: // max key
      return 0;
    case 0x07: // ObjectId
      return 12;
    case 0x08: // boolean
      return 1;
    case 0x0b: // regex: pattern cstring, options cstring
      return cstringEnd(bytes, cstringEnd(bytes, at)) - at;
    case 0x0c: // DBPointer (deprecated): string, 12-byte ObjectId
      return 4 + int32(bytes, at) + 12;
    case 0x10: // int32
      return 4;
    case 0x13: // decimal128
      return 16;
    default:
      throw new Error(`corrupt BSON: unknown element type 0x${type.toString(16)}`);
  }
}

interface Element {
  type: number;
  /** The field name, decoded only when asked. */
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  end: number;
}

/** The elements of the document that starts at `start` (its length prefix). */
function* elements(bytes: Uint8Array, start: number): Generator<Element> {
  const end = start + int32(bytes, start) - 1; // the terminating NUL
  let at = start + 4;
  while (at < end) {
    const type = bytes[at];
    const keyStart = at + 1;
    const keyEnd = cstringEnd(bytes, keyStart) - 1;
    const valueStart = keyEnd + 1;
    const next = valueStart + valueSize(bytes, type, valueStart);
    yield { type, keyStart, keyEnd, valueStart, end: next };
    at = next;
  }
}

/** The top-level `_id` of a stored document, decoded with every type kept (undefined when it has none). */
export function storedId(bytes: Uint8Array): unknown {
  for (const e of elements(bytes, 0)) {
    if (e.keyEnd - e.keyStart !== 3 || bytes[e.keyStart] !== 0x5f || bytes[e.keyStart + 1] !== 0x69 || bytes[e.keyStart + 2] !== 0x64) continue;
    // One-element document { _id: value } around the element's bytes.
    const one = Buffer.alloc(4 + (e.end - e.keyStart + 1) + 1);
    one.writeInt32LE(one.length, 0);
    Buffer.from(bytes.buffer, bytes.byteOffset + e.keyStart - 1, e.end - e.keyStart + 1).copy(one, 4);
    return BSON.deserialize(one, EXACT_BSON)._id;
  }
  return undefined;
}

/** Whether the keys at [a, a+len) and [b, b+len) hold the same bytes. */
function sameKey(bytes: Uint8Array, a: number, b: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

/** Above this many fields a level checks duplicates with a Set of its names rather than pairwise. */
const PAIRWISE_KEYS = 16;

/**
 * Scratch for the walk, reused by every call (the copy runs it on every document, so it allocates nothing per
 * document): the key bounds of every open level's fields so far, and each open level's own key (for the path).
 */
let keyStarts: Int32Array = new Int32Array(256);
let keyEnds: Int32Array = new Int32Array(256);
const pathStarts: number[] = [];
const pathEnds: number[] = [];
/** Whether the open level `d` deep is a code-with-scope's scope (its path reads `field(scope)`). */
const pathScopes: boolean[] = [];

function growKeys(): void {
  const more = (a: Int32Array): Int32Array => {
    const b = new Int32Array(a.length * 2);
    b.set(a);
    return b;
  };
  keyStarts = more(keyStarts);
  keyEnds = more(keyEnds);
}

/** The dotted path of the field at [keyStart, keyEnd) of the level `depth` deep. */
function pathTo(bytes: Uint8Array, depth: number, keyStart: number, keyEnd: number): string {
  const text = (a: number, b: number) => Buffer.from(bytes.buffer, bytes.byteOffset + a, b - a).toString("utf8");
  const parts: string[] = [];
  for (let d = 0; d < depth; d++) parts.push(text(pathStarts[d], pathEnds[d]) + (pathScopes[d] ? "(scope)" : ""));
  parts.push(text(keyStart, keyEnd));
  return parts.join(".");
}

/**
 * The key at [start, end) as an array index, or -1: the canonical decimal form of an integer in 0 … 2^32 − 2,
 * which is what a JS object orders first (ECMA-262 OrdinaryOwnPropertyKeys: array indices ascending, then other
 * string keys in insertion order).
 */
function arrayIndex(bytes: Uint8Array, start: number, end: number): number {
  const len = end - start;
  if (len === 0 || len > 10 || (len > 1 && bytes[start] === 0x30)) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = bytes[i] - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= 4294967294 ? n : -1;
}

/** Set when a walk meets a `$ref` field name anywhere: the DBRef round trip below then decides. */
let dbRefLike = false;

/**
 * Walks the document at `start`, `depth` levels deep; `base` is where this level's key bounds start in the
 * scratch arrays. Field names are compared as bytes, pairwise while a level has few, by a Set beyond.
 */
function walk(bytes: Uint8Array, start: number, depth: number, base: number, isArray: boolean): string | undefined {
  const end = start + int32(bytes, start) - 1; // the terminating NUL
  let count = 0;
  let names: Set<string> | undefined;
  /** The greatest index-like key so far (-1: none), and whether a key that is not one came before. */
  let lastIndex = -1;
  let otherKeySeen = false;
  let position = 0;
  for (let at = start + 4; at < end; ) {
    const type = bytes[at];
    const keyStart = at + 1;
    const keyEnd = cstringEnd(bytes, keyStart) - 1;
    const valueStart = keyEnd + 1;
    const len = keyEnd - keyStart;
    if (!isArray) {
      if (names) {
        const key = Buffer.from(bytes.buffer, bytes.byteOffset + keyStart, len).toString("latin1");
        if (names.has(key)) return `a duplicate field name "${pathTo(bytes, depth, keyStart, keyEnd)}"`;
        names.add(key);
      } else {
        const first = bytes[keyStart];
        for (let k = base; k < base + count; k++) {
          if (keyEnds[k] - keyStarts[k] === len && bytes[keyStarts[k]] === first && sameKey(bytes, keyStarts[k], keyStart, len)) {
            return `a duplicate field name "${pathTo(bytes, depth, keyStart, keyEnd)}"`;
          }
        }
        if (base + count >= keyStarts.length) growKeys();
        keyStarts[base + count] = keyStart;
        keyEnds[base + count] = keyEnd;
        count++;
        if (count > PAIRWISE_KEYS) {
          names = new Set();
          for (let k = base; k < base + count; k++) names.add(Buffer.from(bytes.buffer, bytes.byteOffset + keyStarts[k], keyEnds[k] - keyStarts[k]).toString("latin1"));
        }
      }
      // js-bson decodes into a JS object, which puts index-like keys first, ascending: a stored order that is
      // not already that order comes back reordered.
      const index = arrayIndex(bytes, keyStart, keyEnd);
      if (index >= 0) {
        if (otherKeySeen || index < lastIndex) {
          return `a numeric field name "${pathTo(bytes, depth, keyStart, keyEnd)}" that is not in the order a JavaScript object keeps (numeric names first, ascending), so the driver would write the fields in another order`;
        }
        lastIndex = index;
      } else otherKeySeen = true;
      // "$ref"
      if (len === 4 && bytes[keyStart] === 0x24 && bytes[keyStart + 1] === 0x72 && bytes[keyStart + 2] === 0x65 && bytes[keyStart + 3] === 0x66) dbRefLike = true;
    }
    // An array is written back with the keys "0", "1", … whatever it stored.
    if (isArray && arrayIndex(bytes, keyStart, keyEnd) !== position) {
      return `an array element stored under the name "${pathTo(bytes, depth, keyStart, keyEnd)}" where the driver writes "${position}"`;
    }
    position++;
    if (type === 0x06) return `the deprecated BSON undefined type at "${pathTo(bytes, depth, keyStart, keyEnd)}"`;
    if (type === 0x0c) return `the deprecated BSON DBPointer type at "${pathTo(bytes, depth, keyStart, keyEnd)}"`;
    if (type === 0x03 || type === 0x04 || type === 0x0f) {
      pathStarts[depth] = keyStart;
      pathEnds[depth] = keyEnd;
      pathScopes[depth] = type === 0x0f;
      // code with scope: total length, code string, scope document
      const inner =
        type === 0x0f
          ? walk(bytes, valueStart + 4 + 4 + int32(bytes, valueStart + 4), depth + 1, base + count, false)
          : walk(bytes, valueStart, depth + 1, base + count, type === 0x04);
      if (inner) return inner;
    }
    at = valueStart + valueSize(bytes, type, valueStart);
  }
  return undefined;
}

/**
 * What in a stored document the driver would change on its way through a JS object, or undefined. Runs on every
 * copied document, so it walks the bytes without decoding values or (unless a level has many fields) field
 * names, and allocates nothing unless it finds something.
 */
export function unwritableReason(bytes: Uint8Array): string | undefined {
  dbRefLike = false;
  const found = walk(bytes, 0, 0, 0, false);
  if (found) return found;
  // A `$ref` field somewhere: js-bson may take that document for a DBRef. Whether its bytes survive is decided by
  // the round trip itself (rare, so its cost does not matter).
  if (dbRefLike) {
    const again = BSON.serialize(BSON.deserialize(bytes, EXACT_BSON), { ignoreUndefined: false });
    if (Buffer.compare(Buffer.from(again), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) !== 0) {
      return "an embedded {$ref, $id} document the driver rewrites as a DBRef (field order or $ref/$db changed)";
    }
  }
  return undefined;
}
