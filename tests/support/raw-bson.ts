// Hand-built BSON for documents the Node.js driver cannot produce (bsonspec.org element layout): the deprecated
// undefined (0x06) and DBPointer (0x0C) types, duplicate field names, and embedded documents in field orders
// js-bson would rewrite. Legacy drivers, mongorestore and the shell write these; mongod stores them as given.
import { BSON, ObjectId } from "mongodb";

function cstring(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, "utf8"), Buffer.from([0])]);
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n, 0);
  return b;
}

function bsonString(text: string): Buffer {
  const bytes = cstring(text);
  return Buffer.concat([int32(bytes.length), bytes]);
}

function element(type: number, key: string, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), cstring(key), value]);
}

/** A document from elements, in the order given (duplicates kept). */
export function rawDocument(...elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  return Buffer.concat([int32(4 + body.length + 1), body, Buffer.from([0])]);
}

export const el = {
  int32: (key: string, n: number): Buffer => element(0x10, key, int32(n)),
  string: (key: string, text: string): Buffer => element(0x02, key, bsonString(text)),
  objectId: (key: string, id: ObjectId): Buffer => element(0x07, key, Buffer.from(id.id)),
  undefined: (key: string): Buffer => element(0x06, key, Buffer.alloc(0)),
  dbPointer: (key: string, namespace: string, id: ObjectId): Buffer => element(0x0c, key, Buffer.concat([bsonString(namespace), Buffer.from(id.id)])),
  document: (key: string, doc: Buffer): Buffer => element(0x03, key, doc),
  array: (key: string, ...items: Buffer[]): Buffer => element(0x04, key, rawDocument(...items)),
};

/** The same document written by the driver: what a round trip through js-bson makes of `bytes`. */
export function throughDriver(bytes: Uint8Array): Buffer {
  return Buffer.from(BSON.serialize(BSON.deserialize(bytes, { promoteValues: false, promoteLongs: false, bsonRegExp: true }), { ignoreUndefined: false }));
}

export const POINTED = new ObjectId("5f0000000000000000000001");
