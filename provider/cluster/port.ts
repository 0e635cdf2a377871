// ClusterPort: the narrow set of operations the built-in engine needs from a MongoDB deployment.
//
// Two implementations: MongoClusterPort (the real `mongodb` driver) and MemoryCluster (in-memory, for tests
// and for users' own tests). tests/conformance/ holds the suite both must pass, so the engine can be tested
// offline against MemoryCluster with confidence that it behaves like MongoDB where it matters.
//
// Documents cross this interface as driver `Document`s holding BSON values exactly as stored: Int64 stays
// Long, Double stays Double, Decimal128, BSONRegExp, Binary subtypes and Timestamps are never promoted.

import type { Binary, Document, Timestamp } from "mongodb";

export interface Namespace {
  db: string;
  coll: string;
}

export interface IndexSpec {
  name: string;
  /** Key pattern, field order preserved. */
  key: Document;
  /** Every other index option as listIndexes reports it (unique, sparse, partialFilterExpression,
   *  expireAfterSeconds, collation, hidden, …) minus `v`, `key`, `name`, `ns`. */
  options: Document;
}

export type CollectionKind = "collection" | "view" | "timeseries";

export interface CollectionInfo {
  db: string;
  name: string;
  kind: CollectionKind;
  /** listCollections `options`: validator, validationLevel/Action, collation, capped, size, max,
   *  clusteredIndex, viewOn, pipeline, timeseries, … */
  options: Document;
  /** Empty for views. Includes the `_id_` index. */
  indexes: IndexSpec[];
}

export interface CollectionStats {
  count: number;
  /** Uncompressed data size in bytes. */
  sizeBytes: number;
}

export type Topology = "replicaSet" | "sharded" | "standalone";

export interface ServerInfo {
  /** e.g. "7.0.14" */
  version: string;
  topology: Topology;
  /** setUserWriteBlockMode exists (MongoDB 6.0+ replica sets and sharded clusters). */
  supportsUserWriteBlocking: boolean;
}

export interface Privilege {
  resource: { db?: string; collection?: string; cluster?: boolean; anyResource?: boolean };
  actions: string[];
}

export interface UserInfo {
  user: string;
  db: string;
  roles: Array<{ role: string; db: string }>;
  /** Every privilege the user holds, inherited ones included (usersInfo `showPrivileges`); only when asked. */
  privileges?: Privilege[];
}

/** Who the connection is authenticated as (connectionStatus `authInfo.authenticatedUsers`). */
export interface AuthenticatedUser {
  user: string;
  db: string;
}

export interface BulkWriteOptions {
  /**
   * Skip the collections' validators. mongod then also requires the `bypassDocumentValidation` action on the
   * namespace (dbAdmin and restore grant it; readWrite does not).
   */
  bypassDocumentValidation?: boolean;
}

/** Bulk write operations: a subset of the driver's AnyBulkWriteOperation, same shapes. */
export type WriteOperation =
  | { insertOne: { document: Document } }
  | { replaceOne: { filter: Document; replacement: Document; upsert?: boolean } }
  | { updateOne: { filter: Document; update: Document[]; upsert?: boolean } }
  | { deleteOne: { filter: Document } };

export interface BulkWriteOutcome {
  inserted: number;
  upserted: number;
  matched: number;
  modified: number;
  deleted: number;
}

/** A half-open `_id` range: documents with after < _id < before (bounds omitted = open), in BSON sort order. */
export interface IdRange {
  /** Exclusive lower bound (the last `_id` already copied, when resuming). */
  after?: unknown;
  /** Exclusive upper bound. */
  before?: unknown;
  /** Inclusive lower bound (a partition's first boundary). Ignored when `after` is set. */
  from?: unknown;
}

/**
 * A batch of scanned documents. A port that read them as raw BSON attaches each one's size in bytes
 * (`bsonSizes[i]` for `batch[i]`), so the copier budgets with them instead of walking every document again.
 * It may also list the documents that could hold the deprecated BSON undefined type (`undefinedSuspects`:
 * ascending indexes of those whose bytes hold a 0x06 byte anywhere, the type's tag); every other document of
 * the batch certainly holds none, so the copier looks only at these.
 */
export type ScanBatch = Document[] & {
  bsonSizes?: number[];
  undefinedSuspects?: number[];
  /**
   * The documents' BSON exactly as stored (`stored[i]` for `batch[i]`), when the port read them raw: what the
   * decoded documents cannot show (DBPointer, duplicate field names, DBRef field order; provider/cluster/raw-bson.ts).
   */
  stored?: Uint8Array[];
  /**
   * Set when the port has seen the end of the range with this batch (it asked for more documents than the
   * range held): the scan's next call answers done without asking the server again. A scan is not a
   * snapshot either way; what is inserted into the range after this read may go unseen, as with a cursor.
   */
  last?: boolean;
};

/** BSON's element type tag of undefined (bsonspec.org: "\x06 e_name — Undefined (value) — Deprecated"). */
export const BSON_UNDEFINED_TAG = 0x06;

/** The opaque resume token of a change stream (`{ _data: "…" }` on MongoDB). */
export type ResumeToken = Document;

/** The fields of a change event the engine uses; same names as MongoDB's change events. */
export interface ChangeEvent {
  _id: ResumeToken;
  operationType:
    | "insert"
    | "update"
    | "replace"
    | "delete"
    | "drop"
    | "rename"
    | "dropDatabase"
    | "invalidate"
    | "create"
    | "createIndexes"
    | "dropIndexes"
    | "modify"
    | "shardCollection"
    | string;
  ns?: { db: string; coll?: string };
  /** For rename. */
  to?: { db: string; coll: string };
  /** DDL details on 6.0+ expanded events (rename: `to`; createIndexes/dropIndexes: `indexes`; create: options). */
  operationDescription?: Document;
  documentKey?: Document;
  /** With `updateLookup`: the current document, or null/undefined when it was deleted since. */
  fullDocument?: Document | null;
  updateDescription?: { updatedFields?: Document; removedFields?: string[]; truncatedArrays?: Document[] };
  clusterTime: Timestamp;
  /** The collection's UUID (Binary subtype 4), with showExpandedEvents on 6.0+; not on dropDatabase or view DDL. */
  collectionUUID?: Binary;
  /** 6.0+. */
  wallTime?: Date;
  /**
   * Set on a fragment of an event too large for one BSON document (`$changeStreamSplitLargeEvent`): fragments
   * 1…of follow each other, each holding some of the event's top-level fields and its own resume token `_id`.
   */
  splitEvent?: { fragment: number; of: number };
}

export interface ChangeStreamStart {
  /** Start at this cluster time (inclusive). */
  startAtOperationTime?: Timestamp;
  /** Or resume after this token. */
  resumeAfter?: ResumeToken;
  /**
   * Leave `updateDescription` out of update events (`$project: { updateDescription: 0 }`). With updateLookup an
   * update event carries the whole document AND the changed fields, so an update of a large document exceeds
   * the 16 MB event limit (BSONObjectTooLarge, 10334) unless the part nobody uses is dropped.
   */
  omitUpdateDescription?: boolean;
  /**
   * Where the server has `$changeStreamSplitLargeEvent` (see splitsLargeChangeEvents), add it as the last stage:
   * events over the limit then arrive as fragments (`splitEvent`) the caller reassembles. Elsewhere such an
   * event fails the stream with BSONObjectTooLarge (10334).
   */
  splitLargeEvents?: boolean;
}

/**
 * Whether a server version has `$changeStreamSplitLargeEvent`: "New in MongoDB 7.0 (and 6.0.9)"
 * (docs: reference/operator/aggregation/changeStreamSplitLargeEvent).
 */
export function splitsLargeChangeEvents(version: string): boolean {
  const [major, minor, patch] = version.split(".").map((p) => Number.parseInt(p, 10) || 0);
  if (major > 6) return true;
  // The 6.1–6.3 rapid releases came before the 6.0.9 backport and do not have it.
  return major === 6 && minor === 0 && patch >= 9;
}

export interface ChangeCursor {
  /**
   * The next batch of events, waiting up to `maxWaitMs` for at least one. Returns [] when none arrived.
   * Throws HistoryLostError when the start point has fallen off the change history (oplog rollover).
   */
  nextBatch(maxWaitMs: number): Promise<ChangeEvent[]>;
  /** The token to resume after everything returned so far (postBatchResumeToken when the batch was empty). */
  resumeToken(): ResumeToken | undefined;
  close(): Promise<void>;
}

export interface OplogWindow {
  /** Oldest and newest entries still in the change history. */
  first: Timestamp;
  last: Timestamp;
  /** last - first, in seconds. */
  seconds: number;
}

/** A small document store on a cluster, for checkpoints and the worker lease. */
export interface CheckpointStore {
  get(key: string): Promise<Document | null>;
  /** Unconditional write. */
  put(key: string, value: Document): Promise<void>;
  /**
   * Writes only when the stored document's `version` equals `expectedVersion` (null = must not exist).
   * Returns false when another writer got there first. Stored documents carry `version` (a number).
   */
  compareAndSet(key: string, expectedVersion: number | null, value: Document): Promise<boolean>;
  /** Removes every document of this migration (after COMPLETE). */
  clear(): Promise<void>;
}

export interface ClusterPort {
  /** Where this is, with credentials redacted; for messages. */
  readonly description: string;

  serverInfo(): Promise<ServerInfo>;
  /** Privileges of the connected user (connectionStatus showPrivileges). */
  privileges(): Promise<Privilege[]>;
  /**
   * The users this connection is authenticated as (connectionStatus). Empty when the deployment runs without
   * access control: then every connection may do anything, and bypasses user write blocking.
   */
  authenticatedUsers(): Promise<AuthenticatedUser[]>;

  /** Every collection and view in every database except admin, config and local, with options and indexes. */
  listCollections(): Promise<CollectionInfo[]>;
  collectionStats(ns: Namespace): Promise<CollectionStats>;
  /** Creates a collection or view with the given options. Succeeds if it already exists with the same kind. */
  createCollection(info: CollectionInfo): Promise<void>;
  /** Creates indexes; existing identical ones are fine. */
  createIndexes(ns: Namespace, indexes: IndexSpec[]): Promise<void>;
  /** Changes a TTL index's expireAfterSeconds (collMod). */
  setIndexExpiry(ns: Namespace, indexName: string, expireAfterSeconds: number): Promise<void>;
  dropCollection(ns: Namespace): Promise<void>;
  renameCollection(from: Namespace, to: Namespace, dropTarget: boolean): Promise<void>;
  dropDatabase(db: string): Promise<void>;

  /** Exact document count. */
  countDocuments(ns: Namespace): Promise<number>;
  /** `parts - 1` `_id` values that split the collection into roughly equal ranges, ascending. */
  splitPoints(ns: Namespace, parts: number): Promise<unknown[]>;
  /**
   * The greatest `_id` in the collection, in the order of its `_id` index (the order scan uses: a query sorted
   * `{_id: -1}`, limit 1); undefined when the collection is empty or absent. The copy reads it after T0 and
   * copies up to it, so an application appending at the end of `_id` order cannot keep the copy going.
   */
  lastId(ns: Namespace): Promise<unknown | undefined>;
  /**
   * Documents in `_id` order within the range, in batches of at most `batchSize` documents. Each yielded
   * batch is a fresh array the caller may keep.
   */
  scan(ns: Namespace, range: IdRange, batchSize: number): AsyncIterable<ScanBatch>;
  /**
   * Applies the operations; `ordered: true` stops at the first error (and throws it). Unordered bulks run as
   * the driver sends them: every insert, then every update/replace, then every delete (one command per kind).
   */
  bulkWrite(ns: Namespace, ops: WriteOperation[], ordered: boolean, options?: BulkWriteOptions): Promise<BulkWriteOutcome>;
  /**
   * Like `scan`, but each document as the BSON bytes the server stores, undecoded (find with `raw: true` on the
   * driver). Verification hashes these, so a value the driver would change on its way through a JS object
   * still shows as a difference.
   */
  scanStored(ns: Namespace, range: IdRange, batchSize: number): AsyncIterable<Uint8Array[]>;
  /** Finds one document by `_id` (used to re-read a document at cutover reconciliation). */
  findById(ns: Namespace, id: unknown): Promise<Document | null>;

  /** The cluster's current time (operationTime of a no-op); undefined on a standalone. */
  clusterTime(): Promise<Timestamp | undefined>;
  /** A change stream over the whole deployment, with fullDocument "updateLookup". */
  watch(start: ChangeStreamStart): Promise<ChangeCursor>;
  /** The change history's window; undefined on a standalone. */
  oplogWindow(): Promise<OplogWindow | undefined>;

  /** setUserWriteBlockMode (6.0+). */
  setUserWriteBlocking(enabled: boolean): Promise<void>;
  userWriteBlocking(): Promise<boolean>;
  /** Users defined on this deployment (usersInfo forAllDBs); with `showPrivileges`, each one's privileges. */
  listUsers(options?: { showPrivileges?: boolean }): Promise<UserInfo[]>;
  /** Replaces a user's roles (updateUser). */
  setUserRoles(user: string, db: string, roles: Array<{ role: string; db: string }>): Promise<void>;
  /**
   * On a sharded cluster, how long a role change may take to reach every mongos: each mongos checks for stale
   * users every `userCacheInvalidationIntervalSecs` (getParameter; docs: "For mongos only", default 30,
   * 1–86400). Undefined on a replica set (updateUser takes effect at once) or when the parameter cannot be read.
   */
  userCacheInvalidationSeconds(): Promise<number | undefined>;

  /** A checkpoint store scoped to one migration, kept in a reserved database on this cluster. */
  checkpoints(migrationId: string): CheckpointStore;

  close(): Promise<void>;
}

/** The reserved database on the target that holds checkpoints; never copied, removed after COMPLETE. */
export const CHECKPOINT_DATABASE = "__atlas_migration";
