// The shared state of one MemoryCluster: databases, change log, users, write blocking, faults.
//
// Every mutation goes through `ClusterState`, which keeps the data and the change log in step: a write is
// stored and logged in the same synchronous step, so a change stream never sees an event for data that is
// not there (or misses one for data that is). Permission and write-blocking checks live one layer up, in
// the connection (connection.ts), because they depend on who is asking.

import { ObjectId, Timestamp, UUID, type Document } from "mongodb";
import { bsonKey, cloneDocument, cloneValue, fromBson, toBson } from "../../provider/cluster/bson-order";
import { unwritableReason } from "../../provider/cluster/raw-bson";
import { CHECKPOINT_DATABASE, type CollectionInfo, type IndexSpec, type Namespace, type Privilege, type Topology } from "../../provider/cluster/port";
import { ChangeLog, type NewLogEntry } from "./change-log";
import { CollectionData, type StoredDocument } from "./collection-data";
import { serverError } from "./errors";
import { BSON_OBJ_MAX_USER_SIZE, bsonSize } from "./large-events";
import { FaultInjector } from "./faults";
import { applyUpdate, equalityFields, idFromFilter, isUpdateDocument, matches } from "./query";
import type { Role } from "./users";

export interface MemoryClusterOptions {
  /** Default "replicaSet". A standalone has no cluster time, no change streams and no oplog window. */
  topology?: Topology;
  /** Reported server version, default "7.0.14". User write blocking needs 6.0+. */
  version?: string;
  /** Privileges of the default (unauthenticated-as-a-user) connection; default: those of `root`. */
  privileges?: Privilege[];
  /** Milliseconds clock for cluster times and wall times (pass a test's virtual clock); default Date.now. */
  now?: () => number;
  /**
   * How the cluster's clock passes while a change-stream getMore awaits new events (maxAwaitTimeMS). With a
   * virtual `now`, pass the same clock's sleep so an await takes virtual time; default: real timers, and the await
   * is measured on the real clock.
   */
  sleep?: (ms: number) => Promise<void>;
  /** Most events a change cursor returns per batch; default 1000. */
  maxEventsPerBatch?: number;
  /**
   * Access control (mongod --auth), default true. Without it every connection may do anything, connectionStatus
   * lists no user, and every connection bypasses user write blocking (authorization_session_impl.cpp).
   */
  accessControl?: boolean;
  /**
   * Sharded topology only: seconds a role change (updateUser) takes to reach the application's connections, as a
   * mongos refreshes its user cache every userCacheInvalidationIntervalSecs (docs: default 30). Default 30.
   */
  userCacheInvalidationIntervalSecs?: number;
}

/** Databases never listed or copied. */
export const INTERNAL_DATABASES = new Set(["admin", "config", "local", CHECKPOINT_DATABASE]);

export interface WriteCounts {
  matched: number;
  modified: number;
  upsertedId?: unknown;
}

export function nsText(ns: Namespace): string {
  return `${ns.db}.${ns.coll}`;
}

function checkId(id: unknown): void {
  if (Array.isArray(id)) throw serverError(2, "BadValue", "can't use an array for _id");
  if (id instanceof RegExp || (id as { _bsontype?: unknown })?._bsontype === "BSONRegExp") {
    throw serverError(2, "BadValue", "can't use a regex for _id");
  }
}

/**
 * mongod's 16 MiB document limit (BSONObjMaxUserSize, src/mongo/bson/util/builder.h): an insert fails in
 * fixDocumentForInsert (src/mongo/db/ops/insert.cpp, BadValue "object to insert too large"), an update or
 * replacement whose result is larger fails with 17419 (src/mongo/db/exec/update_stage.cpp).
 */
function checkInsertSize(doc: Document | Buffer): void {
  const size = Buffer.isBuffer(doc) ? doc.length : bsonSize(doc);
  if (size > BSON_OBJ_MAX_USER_SIZE) {
    throw serverError(2, "BadValue", `object to insert too large. size in bytes: ${size}, max size: ${BSON_OBJ_MAX_USER_SIZE}`);
  }
}

/** An upsert that inserts: 17420 "Document to upsert is larger than 16777216" (src/mongo/db/exec/upsert_stage.cpp). */
function checkUpsertSize(doc: Document): void {
  if (bsonSize(doc) > BSON_OBJ_MAX_USER_SIZE) {
    throw serverError(17420, "Location17420", `Document to upsert is larger than ${BSON_OBJ_MAX_USER_SIZE}`);
  }
}

/** An update (or replacement) whose result is too large: 17419 "Resulting document after update is larger than 16777216" (src/mongo/db/exec/update_stage.cpp). */
function checkUpdatedSize(doc: Document): void {
  if (bsonSize(doc) > BSON_OBJ_MAX_USER_SIZE) {
    throw serverError(17419, "Location17419", `Resulting document after update is larger than ${BSON_OBJ_MAX_USER_SIZE}`);
  }
}

/** A Date from any realm (BSON decodes dates with the host's Date, which a test runner's sandbox does not share). */
function isDate(v: unknown): v is Date {
  return Object.prototype.toString.call(v) === "[object Date]";
}

/** An index as createIndexes events describe it: `{ v: 2, key, name, …options }`. */
function indexDescription(spec: IndexSpec): Document {
  return cloneDocument({ v: 2, key: spec.key, name: spec.name, ...spec.options });
}

function pathValue(doc: Document, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return undefined;
    current = (current as Document)[part];
  }
  return current;
}

/** The date a TTL index acts on: the value if a date, the earliest date of an array, else none. */
function earliestDate(value: unknown): number | undefined {
  const dates = (Array.isArray(value) ? value : [value]).filter(isDate).map((d) => d.getTime());
  return dates.length > 0 ? Math.min(...dates) : undefined;
}

const TMP_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

export class ClusterState {
  readonly dbs = new Map<string, Map<string, CollectionData>>();
  readonly log: ChangeLog;
  readonly faults = new FaultInjector();
  /** `stale`: the roles other mongos still act on until `until` (ms on the cluster clock), sharded only. */
  readonly users = new Map<string, { user: string; db: string; roles: Role[]; stale?: { roles: Role[]; until: number } }>();
  writeBlocking = false;
  readonly topology: Topology;
  readonly version: string;
  readonly rootPrivileges: Privilege[] | undefined;
  readonly now: () => number;
  /** The clock a getMore's await is measured on, and how it passes (see MemoryClusterOptions.sleep). */
  readonly awaitClock: { now: () => number; sleep?: (ms: number) => Promise<void> };
  readonly maxEventsPerBatch: number;
  readonly accessControl: boolean;
  readonly userCacheInvalidationIntervalSecs: number;

  constructor(readonly name: string, options: MemoryClusterOptions) {
    this.topology = options.topology ?? "replicaSet";
    this.version = options.version ?? "7.0.14";
    this.rootPrivileges = options.privileges;
    this.now = options.now ?? Date.now;
    this.awaitClock = options.sleep ? { now: this.now, sleep: options.sleep } : { now: () => Date.now() };
    this.maxEventsPerBatch = options.maxEventsPerBatch ?? 1000;
    this.accessControl = options.accessControl ?? true;
    this.userCacheInvalidationIntervalSecs = options.userCacheInvalidationIntervalSecs ?? 30;
    this.log = new ChangeLog(this.now);
  }

  get supportsUserWriteBlocking(): boolean {
    const major = Number(this.version.split(".")[0]);
    return this.topology !== "standalone" && major >= 6;
  }

  collection(ns: Namespace): CollectionData | undefined {
    return this.dbs.get(ns.db)?.get(ns.coll);
  }

  /** The transaction writes are being made in (MemoryCluster.withTransaction), if any. */
  transaction: { lsid: Document; txnNumber: number } | undefined;
  private txnCounter = 0;

  get major(): number {
    return Number(this.version.split(".")[0]) || 0;
  }

  private append(entry: NewLogEntry): void {
    // Writes to a time-series collection are writes to its buckets collection, `system.buckets.<name>`, which no
    // whole-deployment change stream shows (docs: Mongo.watch reports "non-system collections"; time-series
    // limitations: no change streams; SERVER-55075). The document-level events are logged there.
    if (entry.documentKey && entry.ns?.coll && this.collection({ db: entry.ns.db, coll: entry.ns.coll })?.kind === "timeseries") {
      entry = { ...entry, ns: { db: entry.ns.db, coll: `system.buckets.${entry.ns.coll}` } };
    }
    // The collection's UUID as the oplog entry's `ui` holds it: the collection written to, created, indexed or
    // modified (still in the catalog when this runs); drop and rename pass the one they removed or moved.
    if (entry.collectionUUID === undefined && entry.ns?.coll !== undefined) {
      const uuid = this.collection({ db: entry.ns.db, coll: entry.ns.coll })?.uuid;
      if (uuid) entry = { ...entry, collectionUUID: uuid };
    }
    this.log.append(this.transaction ? { ...entry, lsid: this.transaction.lsid, txnNumber: this.transaction.txnNumber } : entry);
  }

  /**
   * Runs `body` as one transaction's writes: its events carry lsid and txnNumber, and on 8.0+ an
   * endOfTransaction event (no `ns`) follows (docs: change-events/endOfTransaction, "New in 8.0"). Not isolated.
   */
  async inTransaction<T>(body: () => Promise<T>): Promise<T> {
    const txn = { lsid: { id: new ObjectId().toHexString() }, txnNumber: ++this.txnCounter };
    this.transaction = txn;
    try {
      return await body();
    } finally {
      this.transaction = undefined;
      this.log.append({ operationType: "endOfTransaction", lsid: txn.lsid, txnNumber: txn.txnNumber });
    }
  }

  private addCollection(ns: Namespace, data: CollectionData): void {
    let db = this.dbs.get(ns.db);
    if (!db) this.dbs.set(ns.db, (db = new Map()));
    db.set(ns.coll, data);
    // operationDescription: the create oplog entry's `o` less `create` (change_stream_event_transform.cpp): a
    // collection's options and its idIndex; a view's viewOn and pipeline (from its system.views entry).
    const description = cloneDocument(data.kind === "view" ? data.options : { ...data.options, idIndex: { v: 2, key: { _id: 1 }, name: "_id_" } });
    this.append({ operationType: "create", ns: { ...ns }, operationDescription: description });
  }

  /** The collection a write goes to, created implicitly (with a `create` event) as MongoDB does. */
  private writable(ns: Namespace): CollectionData {
    let data = this.collection(ns);
    if (!data) {
      data = new CollectionData("collection", {});
      this.addCollection(ns, data);
    }
    if (data.kind === "view") throw serverError(166, "CommandNotSupportedOnView", `Namespace ${nsText(ns)} is a view, not a collection`);
    return data;
  }

  /** The first documents matching a filter, in `_id` order (exact BSON values). */
  find(ns: Namespace, filter: Document = {}, limit = Infinity): Array<{ stored: StoredDocument; doc: Document }> {
    const data = this.collection(ns);
    if (!data || data.kind === "view") return [];
    const pinned = idFromFilter(filter);
    if (pinned.found) {
      const stored = data.get(pinned.id);
      if (!stored) return [];
      const doc = fromBson(stored.bytes);
      return matches(doc, filter) ? [{ stored, doc }] : [];
    }
    const out: Array<{ stored: StoredDocument; doc: Document }> = [];
    for (const stored of data.ordered()) {
      if (out.length >= limit) break;
      const doc = fromBson(stored.bytes);
      if (matches(doc, filter)) out.push({ stored, doc });
    }
    return out;
  }

  insert(ns: Namespace, input: Document): unknown {
    const data = this.writable(ns);
    const id = input._id === undefined ? new ObjectId() : input._id;
    checkId(id);
    checkInsertSize({ _id: id, ...input });
    const bytes = toBson({ _id: id, ...input });
    // Decoding the whole document is only needed to check secondary unique indexes; `_id` alone is cheaper.
    const exactId = cloneValue(id);
    const doc = data.hasSecondaryUniqueIndexes() ? fromBson(bytes) : { _id: exactId };
    data.checkUnique(nsText(ns), doc, undefined);
    data.insert(doc, bytes);
    this.append({ operationType: "insert", ns: { ...ns }, documentKey: { _id: cloneValue(id) }, documentBytes: bytes });
    return id;
  }

  /**
   * Stores a document given as raw BSON, byte for byte: how types the Node.js driver cannot write (the deprecated
   * undefined, DBPointer, duplicate keys) reach a real deployment — legacy drivers, mongorestore. mongod keeps
   * them as sent (bsonspec.org lists undefined 0x06 and DBPointer 0x0C as deprecated, not refused).
   */
  insertBytes(ns: Namespace, bytes: Uint8Array): unknown {
    const data = this.writable(ns);
    const raw = Buffer.from(bytes);
    checkInsertSize(raw);
    const doc = fromBson(raw);
    if (doc._id === undefined) throw serverError(2, "BadValue", "insertRawBson needs a document with an _id");
    checkId(doc._id);
    data.checkUnique(nsText(ns), doc, undefined);
    data.insert(doc, raw);
    this.append({ operationType: "insert", ns: { ...ns }, documentKey: { _id: cloneValue(doc._id) }, documentBytes: raw });
    return doc._id;
  }

  replace(ns: Namespace, filter: Document, replacement: Document, upsert: boolean): WriteCounts {
    if (isUpdateDocument(replacement)) throw serverError(2, "BadValue", "Replacement document must not contain atomic operators");
    // MongoDB 5.0+ stores top-level `$`-prefixed fields (insert), but refuses them in a replacement document:
    // docs "Field Names with Periods and Dollar Signs" (core/dot-dollar-considerations: "replacement documents
    // … top-level $-prefixed fields" are rejected; use $replaceWith/$literal), server storage_validation.cpp
    // (DollarPrefixedFieldName, 52).
    const dollar = Object.keys(replacement).find((k) => k.startsWith("$"));
    if (dollar !== undefined) {
      throw serverError(
        52,
        "DollarPrefixedFieldName",
        `The dollar ($) prefixed field '${dollar}' in '${dollar}' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.`,
      );
    }
    return this.overwrite(ns, filter, replacement, upsert);
  }

  /**
   * Replaces the first match of `filter` by `whole` (its `_id` kept), or inserts it when `upsert` finds none: what
   * a replacement and a `$replaceWith: { $literal }` pipeline both do once their own rules are checked. The
   * `_id` is immutable (66), sizes are checked as mongod does (17420 on upsert, 17419 on update), and an
   * unchanged document counts as matched, not modified.
   */
  private overwrite(ns: Namespace, filter: Document, whole: Document, upsert: boolean): WriteCounts {
    const [target] = this.find(ns, filter, 1);
    if (!target) {
      if (!upsert) return { matched: 0, modified: 0 };
      const pinned = idFromFilter(filter);
      const id = whole._id ?? (pinned.found ? pinned.id : new ObjectId());
      checkUpsertSize({ _id: id, ...whole });
      return { matched: 0, modified: 0, upsertedId: this.insert(ns, { ...whole, _id: id }) };
    }
    const data = this.writable(ns);
    if (whole._id !== undefined && bsonKey(whole._id) !== target.stored.key) {
      throw serverError(66, "ImmutableField", "After applying the update, the (immutable) field '_id' was found to have been altered");
    }
    const { _id: _sameId, ...fields } = whole;
    checkUpdatedSize({ _id: target.stored.id, ...fields });
    const bytes = toBson({ _id: target.stored.id, ...fields });
    if (bytes.equals(target.stored.bytes)) return { matched: 1, modified: 0 };
    const doc = fromBson(bytes);
    data.checkUnique(nsText(ns), doc, target.stored.key);
    data.replace(target.stored, doc, bytes);
    this.append({ operationType: "replace", ns: { ...ns }, documentKey: { _id: cloneValue(target.stored.id) }, documentBytes: bytes });
    return { matched: 1, modified: 1 };
  }

  update(ns: Namespace, filter: Document, update: Document | Document[], upsert: boolean, multi: boolean): WriteCounts {
    if (Array.isArray(update)) return this.replaceWithLiteral(ns, filter, update, upsert);
    if (!isUpdateDocument(update)) throw serverError(9, "FailedToParse", "Update document requires atomic operators");
    const targets = this.find(ns, filter, multi ? Infinity : 1);
    if (targets.length === 0) {
      if (!upsert) return { matched: 0, modified: 0 };
      const seed = cloneDocument(equalityFields(filter));
      applyUpdate(seed, update, true);
      checkUpsertSize(seed);
      return { matched: 0, modified: 0, upsertedId: this.insert(ns, seed) };
    }
    const data = this.writable(ns);
    let modified = 0;
    for (const { stored, doc } of targets) {
      // mongod applies update operators to the stored document and keeps every other field's bytes; this double
      // applies them to the js-bson decoding, which would rewrite a DBPointer, duplicate names, a DBRef's field
      // order or the order of numeric field names (provider/cluster/raw-bson.ts) in fields the update never
      // touched. Refused rather than changed.
      const unwritable = unwritableReason(stored.bytes);
      if (unwritable) {
        throw new Error(
          `MemoryCluster cannot apply update operators to a document of ${nsText(ns)} that holds ${unwritable}: mongod keeps ` +
            "those bytes through the update, and MemoryCluster (which updates a js-bson decoding) would change them. Seed the " +
            "document as it is after the update (insertRawBson) instead",
        );
      }
      const description = applyUpdate(doc, update, false);
      checkUpdatedSize(doc);
      const bytes = toBson(doc);
      if (bytes.equals(stored.bytes)) continue;
      const updated = fromBson(bytes);
      data.checkUnique(nsText(ns), updated, stored.key);
      data.replace(stored, updated, bytes);
      modified++;
      this.append({
        operationType: "update",
        ns: { ...ns },
        documentKey: { _id: cloneValue(stored.id) },
        updateDescription: {
          updatedFields: cloneDocument(description.updatedFields),
          removedFields: description.removedFields,
          truncatedArrays: [],
        },
      });
    }
    return { matched: targets.length, modified };
  }

  /**
   * The one update pipeline MemoryCluster runs: `[{ $replaceWith: { $literal: doc } }]`, which (unlike a
   * replacement document) may set top-level `$`-prefixed fields (docs: dot-dollar-considerations). Any other
   * pipeline is refused rather than guessed at.
   */
  private replaceWithLiteral(ns: Namespace, filter: Document, pipeline: Document[], upsert: boolean): WriteCounts {
    const stage = pipeline.length === 1 ? (pipeline[0].$replaceWith as Document | undefined) : undefined;
    const literal = stage && typeof stage === "object" && Object.keys(stage).length === 1 ? (stage.$literal as Document | undefined) : undefined;
    if (!literal || typeof literal !== "object") {
      throw serverError(2, "BadValue", "MemoryCluster runs only the update pipeline [{ $replaceWith: { $literal: <document> } }]");
    }
    // Logged as a replacement, as a whole-document pipeline update may be (or as a delta, when smaller); change
    // streams then show `replace` or `update` — consumers must treat both as "re-read the document".
    return this.overwrite(ns, filter, literal, upsert);
  }

  delete(ns: Namespace, filter: Document, multi: boolean): number {
    const data = this.collection(ns);
    if (!data) return 0;
    if (data.kind === "view") throw serverError(166, "CommandNotSupportedOnView", `Namespace ${nsText(ns)} is a view, not a collection`);
    const targets = this.find(ns, filter, multi ? Infinity : 1);
    for (const { stored } of targets) {
      data.remove(stored);
      this.append({ operationType: "delete", ns: { ...ns }, documentKey: { _id: cloneValue(stored.id) } });
    }
    return targets.length;
  }

  // ---- DDL ---------------------------------------------------------------------------------------------

  createCollection(info: CollectionInfo): void {
    const ns = { db: info.db, coll: info.name };
    const existing = this.collection(ns);
    if (existing) {
      if (existing.kind === info.kind) return;
      throw serverError(48, "NamespaceExists", `Collection ${nsText(ns)} already exists with a different type`);
    }
    if (info.kind === "view" && typeof info.options.viewOn !== "string") {
      throw serverError(2, "BadValue", `view ${nsText(ns)} needs options.viewOn`);
    }
    this.addCollection(ns, new CollectionData(info.kind, cloneDocument(info.options)));
  }

  createIndexes(ns: Namespace, indexes: IndexSpec[]): void {
    const data = this.writable(ns);
    const added: IndexSpec[] = [];
    for (const spec of indexes) {
      const sameName = data.indexes.find((i) => i.name === spec.name);
      const sameKey = data.indexes.find((i) => JSON.stringify(i.key) === JSON.stringify(spec.key));
      if (sameName) {
        const identical =
          JSON.stringify(sameName.key) === JSON.stringify(spec.key) &&
          bsonKey(sameName.options) === bsonKey(spec.options);
        if (identical) continue;
        throw serverError(86, "IndexKeySpecsConflict", `An existing index has the same name as the requested index: ${spec.name}`);
      }
      if (sameKey && bsonKey(sameKey.options) === bsonKey(spec.options)) {
        throw serverError(85, "IndexOptionsConflict", `Index already exists with a different name: ${sameKey.name}`);
      }
      data.addIndex(nsText(ns), { name: spec.name, key: cloneDocument(spec.key), options: cloneDocument(spec.options) });
      added.push(spec);
    }
    // One oplog entry, so one event, per index built (jstests/change_streams/rename_across_dbs.js reads
    // operationDescription.indexes[0] of each).
    for (const spec of added) {
      this.append({ operationType: "createIndexes", ns: { ...ns }, operationDescription: { indexes: [indexDescription(spec)] } });
    }
  }

  setIndexExpiry(ns: Namespace, indexName: string, expireAfterSeconds: number): void {
    const index = this.collection(ns)?.indexes.find((i) => i.name === indexName);
    if (!index) throw serverError(27, "IndexNotFound", `cannot find index ${indexName} for ns ${nsText(ns)}`);
    index.options.expireAfterSeconds = expireAfterSeconds;
    // The collMod oplog entry's `o` less `collMod` (change_stream_event_transform.cpp).
    this.append({ operationType: "modify", ns: { ...ns }, operationDescription: cloneDocument({ index: { name: indexName, expireAfterSeconds } }) });
  }

  dropIndex(ns: Namespace, indexName: string): void {
    const data = this.collection(ns);
    const spec = data?.indexes.find((i) => i.name === indexName);
    if (!data || !spec || indexName === "_id_" || !data.removeIndex(indexName)) {
      throw serverError(27, "IndexNotFound", `index not found with name [${indexName}]`);
    }
    // operationDescription.indexes: the dropped index's spec (the oplog's `o2`, change_stream_event_transform.cpp).
    this.append({ operationType: "dropIndexes", ns: { ...ns }, operationDescription: { indexes: [indexDescription(spec)] } });
  }

  dropCollection(ns: Namespace): boolean {
    const db = this.dbs.get(ns.db);
    const data = db?.get(ns.coll);
    if (!db || !data) return false;
    db.delete(ns.coll);
    if (db.size === 0) this.dbs.delete(ns.db);
    this.append({ operationType: "drop", ns: { ...ns }, collectionUUID: data.uuid });
    return true;
  }

  renameCollection(from: Namespace, to: Namespace, dropTarget: boolean): void {
    const data = this.collection(from);
    if (!data) throw serverError(26, "NamespaceNotFound", `Source collection ${nsText(from)} does not exist`);
    if (this.collection(to) && !dropTarget) throw serverError(48, "NamespaceExists", `Target namespace ${nsText(to)} exists`);
    if (from.db !== to.db) {
      this.renameAcrossDatabases(from, to, data);
      return;
    }
    this.renameWithinDatabase(from, to);
  }

  private renameWithinDatabase(from: Namespace, to: Namespace): void {
    const data = this.collection(from)!;
    if (this.collection(to)) this.dbs.get(to.db)!.delete(to.coll);
    const fromDb = this.dbs.get(from.db)!;
    fromDb.delete(from.coll);
    if (fromDb.size === 0) this.dbs.delete(from.db);
    let toDb = this.dbs.get(to.db);
    if (!toDb) this.dbs.set(to.db, (toDb = new Map()));
    toDb.set(to.coll, data);
    this.append({ operationType: "rename", ns: { ...from }, to: { ...to }, operationDescription: { to: { ...to } }, collectionUUID: data.uuid });
  }

  /**
   * A rename to another database is a copy through a temporary collection in the target database, then a
   * rename over the target and a drop of the source (src/mongo/db/catalog/rename_collection.cpp,
   * renameBetweenDBs). Change streams show exactly that: create, createIndexes, one insert per document on
   * `tmpXXXXX.renameCollection`, rename of it to the target, drop of the source
   * (jstests/change_streams/rename_across_dbs.js, jstests/change_streams/cross_db_rename_event_sequence.js).
   */
  private renameAcrossDatabases(from: Namespace, to: Namespace, data: CollectionData): void {
    const suffix = Array.from({ length: 5 }, () => TMP_ALPHABET[Math.floor(Math.random() * TMP_ALPHABET.length)]).join("");
    const tmp = { db: to.db, coll: `tmp${suffix}.renameCollection` };
    const documents = data.ordered().map((d) => d.bytes);
    this.fillTemporary(tmp, data.options, data.indexes, documents);
    this.renameWithinDatabase(tmp, to);
    this.dropCollection(from);
  }

  /**
   * `$out`: results are written to `<db>.tmp.agg_out.<UUID>` created with the target's options and indexes, then
   * renamed over the target (src/mongo/db/pipeline/document_source_out.cpp, initialize/finalize). Change streams
   * show create, createIndexes and inserts on the temporary namespace, then its rename to the target.
   */
  out(sourceNs: Namespace, filter: Document, target: Namespace): void {
    const existing = this.collection(target);
    if (existing?.kind === "view") throw serverError(166, "CommandNotSupportedOnView", `Namespace ${nsText(target)} is a view, not a collection`);
    const tmp = { db: target.db, coll: `tmp.agg_out.${new UUID().toHexString(true)}` };
    const documents = this.find(sourceNs, filter).map(({ stored }) => stored.bytes);
    this.fillTemporary(tmp, existing?.options ?? {}, existing?.indexes ?? [], documents);
    this.renameWithinDatabase(tmp, target);
  }

  private fillTemporary(tmp: Namespace, options: Document, indexes: IndexSpec[], documents: Buffer[]): void {
    const copy = new CollectionData("collection", cloneDocument(options));
    this.addCollection(tmp, copy);
    // One oplog entry, and so one createIndexes event, per index.
    for (const index of indexes) {
      if (index.name === "_id_") continue;
      copy.addIndex(nsText(tmp), { name: index.name, key: cloneDocument(index.key), options: cloneDocument(index.options) });
      this.append({ operationType: "createIndexes", ns: { ...tmp }, operationDescription: { indexes: [indexDescription(index)] } });
    }
    for (const bytes of documents) {
      const doc = fromBson(bytes);
      copy.checkUnique(nsText(tmp), doc, undefined);
      copy.insert(doc, bytes);
      this.append({ operationType: "insert", ns: { ...tmp }, documentKey: { _id: cloneValue(doc._id) }, documentBytes: bytes });
    }
  }

  dropDatabase(name: string): void {
    const db = this.dbs.get(name);
    if (!db) return;
    for (const coll of [...db.keys()].sort()) {
      const data = db.get(coll)!;
      db.delete(coll);
      this.append({ operationType: "drop", ns: { db: name, coll }, collectionUUID: data.uuid });
    }
    this.dbs.delete(name);
    this.append({ operationType: "dropDatabase", ns: { db: name } });
  }

  /**
   * mongod's TTL monitor pass (docs: "TTL Indexes", "Expiration of Data"): for every single-field index with
   * expireAfterSeconds, deletes documents whose field is a date (or an array holding dates: the earliest counts)
   * at or before now - expireAfterSeconds. Each deletion is an ordinary delete event. Not stopped by user write
   * blocking (the monitor is an internal writer, src/mongo/db/ttl/ttl.cpp).
   */
  runTtlMonitor(): number {
    const now = this.now();
    let deleted = 0;
    for (const [db, colls] of [...this.dbs]) {
      if (INTERNAL_DATABASES.has(db)) continue;
      for (const [coll, data] of [...colls]) {
        if (data.kind !== "collection") continue;
        for (const index of data.indexes) {
          // Options are kept as BSON values (an Int32 here when set through the driver-shaped API).
          const seconds = index.options.expireAfterSeconds === undefined ? NaN : Number(index.options.expireAfterSeconds);
          const fields = Object.keys(index.key);
          if (!Number.isFinite(seconds) || fields.length !== 1) continue;
          const ns = { db, coll };
          for (const { stored, doc } of this.find(ns)) {
            if (stored.removed) continue;
            const earliest = earliestDate(pathValue(doc, fields[0]));
            if (earliest === undefined || earliest > now - seconds * 1000) continue;
            data.remove(stored);
            this.append({ operationType: "delete", ns: { ...ns }, documentKey: { _id: cloneValue(stored.id) } });
            deleted++;
          }
        }
      }
    }
    return deleted;
  }

  /** The document with this `_id` now, exact BSON values, or null. */
  lookup(ns: Namespace, id: unknown): Document | null {
    const stored = this.collection(ns)?.get(id);
    return stored ? fromBson(stored.bytes) : null;
  }

  /** The current cluster time: the newest entry's time, or the clock's second if that is later. */
  currentTime(): Timestamp {
    const latest = this.log.latestTime();
    const seconds = Math.floor(this.now() / 1000);
    return seconds > latest.high >>> 0 ? new Timestamp({ t: seconds, i: 0 }) : latest;
  }
}
