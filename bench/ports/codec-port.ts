// CodecPort: a ClusterPort whose data path costs what the `mongodb` driver's client side costs and nothing
// else — the benchmark's stand-in for "a server that is infinitely fast", so a ratio over it measures the
// engine, not a double.
//
//   bulkWrite  serializes every statement once, as driver 7.x does (src/bulk/unordered.ts and ordered.ts
//              `addToOperationsList`: BSON.serialize of the insert document or the `{q, u, upsert, multi}`
//              update statement, checkKeys off, ignoreUndefined false); the stored document is those bytes.
//   scan       deserializes each stored document with the port's read options (EXACT_BSON, as
//              MongoClusterPort reads), as the driver decodes a find/getMore reply.
//
// Server-side work is free: stores are a Map by canonical `_id` plus an `_id` order sorted lazily on read.
//
//   checkpoints  cost what MongoClusterPort's store costs the client (provider/cluster/mongo.ts checkpoints):
//              the driver serializes each update/insert statement and decodes each findOne reply (driver
//              defaults: values promoted, undefined written as null); the stored record is kept as bytes. A
//              copy writes one per batch, so a MemoryCluster here (permission checks, a change history that
//              keeps every version) would charge the engine for the double's work.
//
// Everything else that is not the data path (metadata, indexes, change streams, users) goes to a private
// MemoryCluster, so the engine runs unmodified. It is at least as strict as MongoDB where the engine
// could notice: an insert of an existing `_id` fails with DuplicateKey (11000), update pipelines other than
// the engine's `$replaceWith: {$literal}` are refused rather than misapplied.
//
// Optionally it counts the bytes of documents handed out by scan and not yet written back (`held`), shared
// between a source and a target port: the process-wide bytes a copier holds, measured from outside it.
import { BSON, type Document } from "mongodb";
import { MemoryCluster } from "../../testing/memory/memory-cluster";
import { EXACT_BSON, bsonKey, compareBson } from "../../provider/cluster/bson-order";
import { BSON_UNDEFINED_TAG, CHECKPOINT_DATABASE } from "../../provider/cluster/port";
import type {
  BulkWriteOptions,
  BulkWriteOutcome,
  CheckpointStore,
  ClusterPort,
  CollectionStats,
  IdRange,
  Namespace,
  ScanBatch,
  WriteOperation,
} from "../../provider/cluster/port";

const SERIALIZE = { checkKeys: false, ignoreUndefined: false } as const;

interface Stored {
  id: unknown;
  bytes: Uint8Array;
}

class Store {
  readonly byKey = new Map<string | number, Stored>();
  private sorted: Stored[] | undefined;
  bytes = 0;

  ordered(): Stored[] {
    this.sorted ??= [...this.byKey.values()].sort((a, b) => compareBson(a.id, b.id));
    return this.sorted;
  }

  /** First index whose `_id` is > value (exclusive) or >= value (inclusive). */
  lowerBound(value: unknown, inclusive: boolean): number {
    const docs = this.ordered();
    let lo = 0;
    let hi = docs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = compareBson(docs[mid].id, value);
      if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  put(id: unknown, bytes: Uint8Array, mustBeNew: boolean): "inserted" | "replaced" {
    const key = idKey(id);
    const old = this.byKey.get(key);
    if (old && mustBeNew) {
      throw Object.assign(new Error(`E11000 duplicate key error dup key: { _id: ${String(id)} }`), { code: 11000, name: "MongoServerError" });
    }
    if (old) {
      this.bytes += bytes.length - old.bytes.length;
      old.bytes = bytes; // the sorted view shares the entry: no re-sort
      return "replaced";
    }
    this.byKey.set(key, { id, bytes });
    this.bytes += bytes.length;
    this.sorted = undefined;
    return "inserted";
  }

  delete(id: unknown): number {
    const key = idKey(id);
    const old = this.byKey.get(key);
    if (!old) return 0;
    this.byKey.delete(key);
    this.bytes -= old.bytes.length;
    this.sorted = undefined;
    return 1;
  }
}

/** A cheap canonical key for the common integer `_id`s; every other type through bsonKey (bsonEquals-equal ⇔ equal key). */
function idKey(id: unknown): string | number {
  if (typeof id === "number" && Number.isInteger(id)) return id;
  const t = (id as { _bsontype?: string } | null)?._bsontype;
  if (t === "Int32") return (id as { value: number }).value;
  return bsonKey(id);
}

/** Offset and length of the embedded document `u` in a serialized `{q: {...}, u: {...}, ...}` statement. */
function embeddedDocument(bytes: Uint8Array, field: string): Uint8Array {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 4;
  while (at < view.length - 1) {
    const type = view[at++];
    const nameEnd = view.indexOf(0, at);
    const name = view.toString("utf8", at, nameEnd);
    at = nameEnd + 1;
    if (type !== 0x03 && type !== 0x04) throw new Error(`CodecPort: statement field ${name} is not a document`);
    const length = view.readInt32LE(at);
    if (name === field) return view.subarray(at, at + length);
    at += length;
  }
  throw new Error(`CodecPort: statement has no field ${field}`);
}

/** Checkpoint records by `${migrationId}/${key}`, as MongoClusterPort stores them: { _id, migrationId, key, version, value }. */
class CodecCheckpoints {
  private readonly records = new Map<string, Uint8Array>();

  store(migrationId: string): CheckpointStore {
    const idOf = (key: string) => `${migrationId}/${key}`;
    const strip = (value: Document): Document => {
      const { version: _ignored, ...rest } = value;
      return rest;
    };
    const current = (id: string): Document | null => {
      const bytes = this.records.get(id);
      return bytes ? BSON.deserialize(bytes) : null; // the driver's findOne defaults
    };
    const save = (id: string, record: Document) => this.records.set(id, BSON.serialize(record, SERIALIZE));
    return {
      get: async (key) => {
        const doc = current(idOf(key));
        return doc ? { ...(doc.value as Document), version: doc.version as number } : null;
      },
      put: async (key, value) => {
        const id = idOf(key);
        // updateOne({_id}, {$set: {migrationId, key, value}, $inc: {version: 1}}, {upsert: true})
        const statement = { q: { _id: id }, u: { $set: { migrationId, key, value: strip(value) }, $inc: { version: 1 } }, upsert: true, multi: false };
        BSON.serialize(statement, SERIALIZE);
        const version = ((current(id)?.version as number | undefined) ?? 0) + 1;
        save(id, { _id: id, migrationId, key, version, value: statement.u.$set.value });
      },
      compareAndSet: async (key, expectedVersion, value) => {
        const id = idOf(key);
        const record = { _id: id, migrationId, key, version: (expectedVersion ?? 0) + 1, value: strip(value) };
        // insertOne(record) when none is expected (DuplicateKey = false), else updateOne({_id, version}, {$set})
        BSON.serialize(expectedVersion === null ? record : { q: { _id: id, version: expectedVersion }, u: { $set: { value: record.value, version: record.version } } }, SERIALIZE);
        const stored = this.records.has(id) ? (current(id)?.version as number) : null;
        if (stored !== expectedVersion) return false;
        save(id, record);
        return true;
      },
      clear: async () => {
        for (const id of [...this.records.keys()]) if (id.startsWith(`${migrationId}/`)) this.records.delete(id);
      },
    };
  }
}

/** Bytes a copier holds: documents a scan handed out and no write has taken back yet. */
export class HeldBytes {
  private readonly sizes = new WeakMap<object, number>();
  current = 0;
  peak = 0;

  handedOut(doc: Document, bytes: number): void {
    this.sizes.set(doc, bytes);
    this.current += bytes;
    if (this.current > this.peak) this.peak = this.current;
  }

  writtenBack(doc: Document | undefined): void {
    if (!doc) return;
    const bytes = this.sizes.get(doc);
    if (bytes === undefined) return;
    this.sizes.delete(doc);
    this.current -= bytes;
  }

  reset(): void {
    this.current = 0;
    this.peak = 0;
  }
}

/** The document an operation carries, when it is one a scan may have handed out. */
function carried(op: WriteOperation): Document | undefined {
  if ("insertOne" in op) return op.insertOne.document;
  if ("replaceOne" in op) return op.replaceOne.replacement;
  if ("updateOne" in op) return (op.updateOne.update[0] as { $replaceWith?: { $literal?: Document } })?.$replaceWith?.$literal;
  return undefined;
}

export interface CodecPortOptions {
  /** Shared between a source and a target to measure what a copier holds; off in timed rounds. */
  held?: HeldBytes;
}

/** BulkWriteOutcome plus the statement bytes the driver would have put on the wire (for LatencyPort). */
export type WireOutcome = BulkWriteOutcome & { wireBytes: number };

export function createCodecPort(name: string, options: CodecPortOptions = {}): ClusterPort & { held?: HeldBytes } {
  const meta = new MemoryCluster({ name: `${name}-metadata` });
  const stores = new Map<string, Store>();
  const storeOf = (ns: Namespace): Store => {
    const key = `${ns.db}.${ns.coll}`;
    let s = stores.get(key);
    if (!s) stores.set(key, (s = new Store()));
    return s;
  };
  const isData = (ns: Namespace) => ns.db !== CHECKPOINT_DATABASE;
  const held = options.held;
  const checkpointRecords = new CodecCheckpoints();

  const overrides: Partial<ClusterPort> = {
    description: `codec://${name}`,
    async collectionStats(ns: Namespace): Promise<CollectionStats> {
      const s = stores.get(`${ns.db}.${ns.coll}`);
      return { count: s?.byKey.size ?? 0, sizeBytes: s?.bytes ?? 0 };
    },
    async countDocuments(ns: Namespace): Promise<number> {
      return stores.get(`${ns.db}.${ns.coll}`)?.byKey.size ?? 0;
    },
    async splitPoints(ns: Namespace, parts: number): Promise<unknown[]> {
      const docs = storeOf(ns).ordered();
      const points: unknown[] = [];
      for (let i = 1; i < parts; i++) {
        const at = Math.floor((i * docs.length) / parts);
        if (at > 0 && at < docs.length) points.push(BSON.deserialize(BSON.serialize({ v: docs[at].id }), EXACT_BSON).v);
      }
      return points;
    },
    async lastId(ns: Namespace): Promise<unknown | undefined> {
      const docs = stores.get(`${ns.db}.${ns.coll}`)?.ordered() ?? [];
      return docs.length > 0 ? BSON.deserialize(BSON.serialize({ v: docs[docs.length - 1].id }), EXACT_BSON).v : undefined;
    },
    scan(ns: Namespace, range: IdRange, batchSize: number): AsyncIterable<ScanBatch> {
      const size = Math.max(1, Math.floor(batchSize));
      return {
        [Symbol.asyncIterator]: () => {
          let position: { value: unknown; inclusive: boolean } | undefined =
            range.after !== undefined ? { value: range.after, inclusive: false } : range.from !== undefined ? { value: range.from, inclusive: true } : undefined;
          return {
            next: async (): Promise<IteratorResult<ScanBatch>> => {
              const store = storeOf(ns);
              const docs = store.ordered();
              let at = position ? store.lowerBound(position.value, position.inclusive) : 0;
              const end = range.before !== undefined ? store.lowerBound(range.before, true) : docs.length;
              // Sizes as a driver reading raw BSON knows them (the reply's per-document lengths).
              const batch: ScanBatch = [];
              const sizes: number[] = [];
              const suspects: number[] = [];
              const stored: Uint8Array[] = [];
              for (; at < end && batch.length < size; at++) {
                const bytes = docs[at].bytes;
                const doc = BSON.deserialize(bytes, EXACT_BSON);
                held?.handedOut(doc, bytes.length);
                if (bytes.indexOf(BSON_UNDEFINED_TAG) !== -1) suspects.push(batch.length);
                batch.push(doc);
                sizes.push(bytes.length);
                stored.push(bytes);
              }
              batch.bsonSizes = sizes;
              batch.undefinedSuspects = suspects;
              // The stored bytes too, as MongoClusterPort's raw scan hands them out (its reply's documents, no
              // copy): the copier checks each for what the driver cannot write back, and that costs here as there.
              batch.stored = stored;
              // As MongoClusterPort's bounded find: fewer than asked for ends the pass without another request.
              if (batch.length < size) batch.last = true;
              if (batch.length === 0) return { done: true, value: undefined };
              position = { value: docs[at - 1].id, inclusive: false };
              return { done: false, value: batch };
            },
          };
        },
      };
    },
    async bulkWrite(ns: Namespace, ops: WriteOperation[], ordered: boolean, bulkOptions?: BulkWriteOptions): Promise<BulkWriteOutcome> {
      if (!isData(ns)) return meta.bulkWrite(ns, ops, ordered, bulkOptions);
      const store = storeOf(ns);
      const outcome: WireOutcome = { inserted: 0, upserted: 0, matched: 0, modified: 0, deleted: 0, wireBytes: 0 };
      let firstError: Error | undefined;
      for (const op of ops) {
        if (firstError && ordered) break;
        try {
          if ("insertOne" in op) {
            const bytes = BSON.serialize(op.insertOne.document, SERIALIZE);
            outcome.wireBytes += bytes.length;
            store.put(op.insertOne.document._id, bytes, true);
            outcome.inserted++;
          } else if ("replaceOne" in op) {
            const { filter, replacement, upsert } = op.replaceOne;
            const statement = BSON.serialize({ q: filter, u: replacement, upsert: upsert ?? false, multi: false }, SERIALIZE);
            outcome.wireBytes += statement.length;
            if (!upsert && !store.byKey.has(idKey(filter._id))) continue;
            const r = store.put(filter._id, embeddedDocument(statement, "u"), false);
            if (r === "inserted") outcome.upserted++;
            else (outcome.matched++, outcome.modified++);
          } else if ("updateOne" in op) {
            const { filter, update, upsert } = op.updateOne;
            const literal = (update[0] as { $replaceWith?: { $literal?: Document } })?.$replaceWith?.$literal;
            if (update.length !== 1 || !literal) throw Object.assign(new Error("CodecPort supports only the $replaceWith/$literal pipeline"), { code: 2 });
            const statement = BSON.serialize({ q: filter, u: update, upsert: upsert ?? false, multi: false }, SERIALIZE);
            outcome.wireBytes += statement.length;
            if (!upsert && !store.byKey.has(idKey(filter._id))) continue;
            const r = store.put(filter._id, BSON.serialize(literal, SERIALIZE), false);
            if (r === "inserted") outcome.upserted++;
            else (outcome.matched++, outcome.modified++);
          } else {
            const bytes = BSON.serialize({ q: op.deleteOne.filter, limit: 1 }, SERIALIZE);
            outcome.wireBytes += bytes.length;
            outcome.deleted += store.delete(op.deleteOne.filter._id);
          }
          if (held) held.writtenBack(carried(op));
        } catch (err) {
          firstError ??= err as Error;
        }
      }
      if (firstError) throw Object.assign(firstError, { outcome });
      return outcome;
    },
    checkpoints(migrationId: string): CheckpointStore {
      return checkpointRecords.store(migrationId);
    },
    async findById(ns: Namespace, id: unknown): Promise<Document | null> {
      const found = stores.get(`${ns.db}.${ns.coll}`)?.byKey.get(idKey(id));
      return found ? BSON.deserialize(found.bytes, EXACT_BSON) : null;
    },
    // The engine opens and closes a port per call; the stores outlive them, like a server's data.
    async close(): Promise<void> {},
    async dropCollection(ns: Namespace): Promise<void> {
      stores.delete(`${ns.db}.${ns.coll}`);
      await meta.dropCollection(ns);
    },
  };

  // Everything else is the metadata cluster's (bound, so `this` stays the MemoryCluster).
  return new Proxy(overrides as ClusterPort & { held?: HeldBytes }, {
    get(target, prop) {
      if (prop === "held") return held;
      if (prop in target) return (target as unknown as Record<string | symbol, unknown>)[prop];
      const value = (meta as unknown as Record<string | symbol, unknown>)[prop];
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(meta) : value;
    },
  });
}
