// A connection to a MemoryCluster: the ClusterPort implementation, acting as one principal.
//
// The default connection (the MemoryCluster object itself) acts with root-like privileges; `cluster.as(user)`
// gives a connection acting as a user, whose current roles are looked up on every operation. Every
// operation first consults the fault injector, then permissions and write blocking, then the state.

import { Timestamp, type Document } from "mongodb";
import { EXACT_BSON, cloneValue, fromBson, toBson } from "../../provider/cluster/bson-order";
import {
  CHECKPOINT_DATABASE,
  type AuthenticatedUser,
  type BulkWriteOptions,
  type BulkWriteOutcome,
  type ChangeCursor,
  type ChangeEvent,
  type ChangeStreamStart,
  type CheckpointStore,
  type ClusterPort,
  type CollectionInfo,
  type CollectionStats,
  type IdRange,
  type IndexSpec,
  type Namespace,
  type OplogWindow,
  type Privilege,
  type ResumeToken,
  type ScanBatch,
  type ServerInfo,
  type UserInfo,
  type WriteOperation,
  splitsLargeChangeEvents,
} from "../../provider/cluster/port";
import { decodeToken, encodeToken, toChangeEvent, type LogEntry } from "./change-log";
import { BSON_OBJ_MAX_INTERNAL_SIZE, BSON_OBJ_MAX_USER_SIZE, MAX_CHANGE_EVENT_SIZE, bsonSize, eventSize, eventTooLargeError, splitEvent } from "./large-events";
import { MemoryDb } from "./collection-api";
import { serverError, unauthorizedError, userWritesBlockedError } from "./errors";
import type { FaultOperation } from "./faults";
import { INTERNAL_DATABASES, nsText, type ClusterState } from "./state";
import { BYPASS_WRITE_BLOCKING, ROOT_PRIVILEGES, allows, privilegesForRoles, type Role } from "./users";

/**
 * The user the default connection (the MemoryCluster object, connect()) is authenticated as: the deployment's
 * `root` user, listed by usersInfo like any other user (unless the `privileges` option replaced its rights).
 */
export const ROOT_USER: AuthenticatedUser = { user: "root", db: "admin" };

/** Who a connection acts as. */
export type Principal = { kind: "root" } | { kind: "user"; user: string; db: string };

/** Options, indexes and other metadata come back as listCollections/listIndexes give them: JS numbers. */
const METADATA_BSON = { promoteValues: true, promoteLongs: true, bsonRegExp: true };

function metadata(doc: Document): Document {
  return fromBson(toBson(doc), METADATA_BSON);
}

/**
 * What a command may weigh: mongod refuses a command body over BSONObjMaxInternalSize (16 MiB + 16 KiB,
 * src/mongo/bson/util/builder.h) with BSONObjectTooLarge (10334) "BSONObj size: N (0x…) is invalid. Size must be
 * between 0 and 16793600(16MB)" (bsonobj.cpp). An update statement near 16 MiB travels in the body of a
 * one-statement command (MongoClusterPort.oneByOne: the driver's bulk refuses statements of 16 MiB or more), whose
 * envelope (update, ordered, bypassDocumentValidation, $db, lsid, txnNumber, $clusterTime) takes a few hundred
 * bytes: a statement is refused when it leaves less than 1 KiB of that allowance — at least as strict as mongod.
 */
const STATEMENT_ENVELOPE = 1024;

function checkStatementSize(filter: Document, update: Document | Document[], upsert: boolean | undefined): void {
  const size = bsonSize({ q: filter, u: update, upsert: upsert === true, multi: false });
  if (size + STATEMENT_ENVELOPE > BSON_OBJ_MAX_INTERNAL_SIZE) {
    const body = size + STATEMENT_ENVELOPE;
    throw serverError(
      10334,
      "BSONObjectTooLarge",
      `BSONObj size: ${body} (0x${body.toString(16).toUpperCase()}) is invalid. Size must be between 0 and ${BSON_OBJ_MAX_INTERNAL_SIZE}(16MB)`,
    );
  }
}

export class MemoryClusterConnection implements ClusterPort {
  readonly description: string;
  private closed = false;
  private readonly cursors = new Set<MemoryChangeCursor>();

  constructor(
    protected readonly state: ClusterState,
    protected readonly principal: Principal,
  ) {
    this.description =
      principal.kind === "root" ? `memory://${state.name}` : `memory://${principal.user}@${state.name}`;
  }

  // ---- guards ------------------------------------------------------------------------------------------

  private currentPrivileges(): Privilege[] {
    // Without access control mongod authorizes everything (connectionStatus then lists no user).
    if (!this.state.accessControl) return [{ resource: { anyResource: true }, actions: ["anyAction"] }];
    if (this.principal.kind === "root") return this.state.rootPrivileges ?? ROOT_PRIVILEGES;
    const record = this.state.users.get(`${this.principal.db}.${this.principal.user}`);
    if (!record) return [];
    // A role change not yet seen by the mongos this connection goes through (sharded: see setUserRoles).
    if (record.stale && this.state.now() < record.stale.until) return privilegesForRoles(record.stale.roles);
    return privilegesForRoles(record.roles);
  }

  private assertOpen(): void {
    if (this.closed) throw serverError(0, "TopologyClosed", `${this.description}: connection is closed`);
  }

  /** Runs `body` under a fault point: a "before" fault throws first, an "after" fault throws once it ran. */
  protected async withFaults<T>(operation: FaultOperation, body: () => T | Promise<T>): Promise<T> {
    this.assertOpen();
    const afterError = this.state.faults.check(operation);
    const result = await body();
    if (afterError) throw afterError;
    return result;
  }

  protected requireRead(ns: Namespace, action = "find"): void {
    if (!allows(this.currentPrivileges(), action, ns.db, ns.coll)) throw unauthorizedError(ns.db, action);
  }

  protected requireCluster(action: string): void {
    if (!allows(this.currentPrivileges(), action)) throw unauthorizedError("admin", action);
  }

  /**
   * Write blocking first (as the server checks it), then the caller's privilege for `action`.
   *
   * Who bypasses blocking, as mongod decides it (src/mongo/db/auth/authorization_session_impl.cpp,
   * `_updateInternalAuthorizationState`): a caller holding `bypassWriteBlockingMode` on the cluster (restore, and
   * so root; __system), and EVERY caller when access control is off.
   */
  protected requireWrite(ns: Namespace, action: string): void {
    const privileges = this.currentPrivileges();
    // Like the server, blocking spares the internal databases (admin, config, local).
    const internal = ns.db === "admin" || ns.db === "config" || ns.db === "local";
    const bypasses = !this.state.accessControl || allows(privileges, BYPASS_WRITE_BLOCKING);
    if (this.state.writeBlocking && !internal && !bypasses) throw userWritesBlockedError();
    if (!allows(privileges, action, ns.db, ns.coll)) throw unauthorizedError(ns.db, action);
  }

  // ---- the driver-shaped API ---------------------------------------------------------------------------

  /** A database handle offering a small subset of the driver's Db/Collection API (see collection-api.ts). */
  db(name: string): MemoryDb {
    return new MemoryDb(name, {
      state: this.state,
      requireRead: (ns) => this.requireRead(ns),
      requireWrite: (ns, action) => this.requireWrite(ns, action),
      assertOpen: () => this.assertOpen(),
    });
  }

  // ---- ClusterPort: metadata ---------------------------------------------------------------------------

  serverInfo(): Promise<ServerInfo> {
    return this.withFaults("serverInfo", () => ({
      version: this.state.version,
      topology: this.state.topology,
      supportsUserWriteBlocking: this.state.supportsUserWriteBlocking,
    }));
  }

  privileges(): Promise<Privilege[]> {
    return this.withFaults("privileges", () => this.currentPrivileges().map((p) => ({ resource: { ...p.resource }, actions: [...p.actions] })));
  }

  authenticatedUsers(): Promise<AuthenticatedUser[]> {
    return this.withFaults("privileges", () => {
      if (!this.state.accessControl) return [];
      return this.principal.kind === "root" ? [{ ...ROOT_USER }] : [{ user: this.principal.user, db: this.principal.db }];
    });
  }

  listCollections(): Promise<CollectionInfo[]> {
    return this.withFaults("listCollections", () => {
      const out: CollectionInfo[] = [];
      for (const db of [...this.state.dbs.keys()].sort()) {
        if (INTERNAL_DATABASES.has(db)) continue;
        const colls = this.state.dbs.get(db)!;
        for (const name of [...colls.keys()].sort()) {
          if (!allows(this.currentPrivileges(), "listCollections", db, name)) continue;
          const data = colls.get(name)!;
          out.push({
            db,
            name,
            kind: data.kind,
            options: metadata(data.options),
            indexes: data.indexes.map((i) => ({ name: i.name, key: metadata(i.key), options: metadata(i.options) })),
          });
        }
      }
      return out;
    });
  }

  collectionStats(ns: Namespace): Promise<CollectionStats> {
    return this.withFaults("collectionStats", () => {
      this.requireRead(ns, "collStats");
      const data = this.state.collection(ns);
      return { count: data?.count ?? 0, sizeBytes: data?.sizeBytes ?? 0 };
    });
  }

  createCollection(info: CollectionInfo): Promise<void> {
    return this.withFaults("createCollection", () => {
      this.requireWrite({ db: info.db, coll: info.name }, "createCollection");
      this.state.createCollection(info);
    });
  }

  createIndexes(ns: Namespace, indexes: IndexSpec[]): Promise<void> {
    return this.withFaults("createIndexes", () => {
      this.requireWrite(ns, "createIndex");
      this.state.createIndexes(ns, indexes);
    });
  }

  setIndexExpiry(ns: Namespace, indexName: string, expireAfterSeconds: number): Promise<void> {
    return this.withFaults("setIndexExpiry", () => {
      this.requireWrite(ns, "collMod");
      this.state.setIndexExpiry(ns, indexName, expireAfterSeconds);
    });
  }

  dropCollection(ns: Namespace): Promise<void> {
    return this.withFaults("dropCollection", () => {
      this.requireWrite(ns, "dropCollection");
      this.state.dropCollection(ns);
    });
  }

  renameCollection(from: Namespace, to: Namespace, dropTarget: boolean): Promise<void> {
    return this.withFaults("renameCollection", () => {
      if (from.db === to.db) {
        this.requireWrite(from, "renameCollectionSameDB");
        this.requireWrite(to, "renameCollectionSameDB");
      } else {
        // Across databases (docs: renameCollection, Access Control): find and dropCollection on the source,
        // insert and createIndex on the target.
        this.requireRead(from);
        this.requireWrite(from, "dropCollection");
        this.requireWrite(to, "insert");
        this.requireWrite(to, "createIndex");
      }
      this.state.renameCollection(from, to, dropTarget);
    });
  }

  dropDatabase(db: string): Promise<void> {
    return this.withFaults("dropDatabase", () => {
      this.requireWrite({ db, coll: "" }, "dropDatabase");
      this.state.dropDatabase(db);
    });
  }

  // ---- ClusterPort: data -------------------------------------------------------------------------------

  countDocuments(ns: Namespace): Promise<number> {
    return this.withFaults("countDocuments", () => {
      this.requireRead(ns);
      return this.state.collection(ns)?.count ?? 0;
    });
  }

  splitPoints(ns: Namespace, parts: number): Promise<unknown[]> {
    return this.withFaults("splitPoints", () => {
      this.requireRead(ns);
      const data = this.state.collection(ns);
      if (!data || parts <= 1) return [];
      const docs = data.ordered();
      const points: unknown[] = [];
      let lastIndex = 0;
      for (let i = 1; i < parts; i++) {
        const at = Math.floor((i * docs.length) / parts);
        if (at <= lastIndex || at >= docs.length) continue;
        points.push(cloneValue(docs[at].id));
        lastIndex = at;
      }
      return points;
    });
  }

  /** mongod answers find({}).sort({_id: -1}).limit(1) from the end of the `_id` index; same order as scan. */
  lastId(ns: Namespace): Promise<unknown | undefined> {
    return this.withFaults("lastId", () => {
      this.requireRead(ns);
      const data = this.state.collection(ns);
      if (!data || data.kind === "view") return undefined;
      const docs = data.ordered();
      return docs.length > 0 ? cloneValue(docs[docs.length - 1].id) : undefined;
    });
  }

  scan(ns: Namespace, range: IdRange, batchSize: number): AsyncIterable<ScanBatch> {
    const size = Math.max(1, Math.floor(batchSize));
    return { [Symbol.asyncIterator]: () => this.scanIterator(ns, range, size, false) };
  }

  /**
   * The stored bytes themselves, as find with `raw: true` returns them from mongod (the driver hands out each
   * document's bytes from the reply: node_modules/mongodb/lib/cmap/wire_protocol/responses.js, CursorResponse.shift
   * `toBytes()`). Copies, so a caller cannot change what is stored.
   */
  scanStored(ns: Namespace, range: IdRange, batchSize: number): AsyncIterable<Uint8Array[]> {
    const size = Math.max(1, Math.floor(batchSize));
    return { [Symbol.asyncIterator]: () => this.scanIterator(ns, range, size, true) as AsyncIterator<Uint8Array[]> };
  }

  /** One pass over a range; each iteration of a scan's iterable starts its own pass. */
  private scanIterator(ns: Namespace, range: IdRange, size: number, raw: boolean): AsyncIterator<ScanBatch | Uint8Array[]> {
    // Each batch starts after the last `_id` returned, so writes between batches behave like a cursor on
    // the `_id` index: documents inserted ahead of the position are seen, those behind are not.
    let position: { after: unknown } | { from: unknown } | undefined =
      range.after !== undefined ? { after: range.after } : range.from !== undefined ? { from: range.from } : undefined;
    let first = true;
    let ended = false;
    const nextBatch = (): Promise<ScanBatch | Uint8Array[]> =>
      ended ? Promise.resolve([]) : this.withFaults(first ? "scan" : "scanBatch", () => {
        first = false;
        this.requireRead(ns);
        const data = this.state.collection(ns);
        if (!data || data.kind === "view") return [];
        const docs = data.ordered();
        let at = 0;
        if (position && "after" in position) at = data.lowerBound(position.after, false);
        else if (position) at = data.lowerBound(position.from, true);
        const end = range.before !== undefined ? data.lowerBound(range.before, true) : docs.length;
        const batch: ScanBatch = [];
        const sizes: number[] = [];
        const stored: Uint8Array[] = [];
        for (; at < end && stored.length < size; at++) {
          if (!raw) batch.push(fromBson(docs[at].bytes, EXACT_BSON));
          stored.push(Buffer.from(docs[at].bytes));
          sizes.push(docs[at].bytes.length); // stored as BSON: the size is known without a walk
        }
        if (stored.length > 0) position = { after: docs[at - 1].id };
        // As MongoClusterPort ends a bounded pass whose find returned fewer than its limit (provider/cluster/mongo.ts):
        // nothing more is asked for, so a document inserted into the range afterwards is not seen by this pass. A
        // real cursor promises no more (docs manual/core/read-isolation-consistency-recency, "Cursor Snapshot":
        // a document written while a cursor is open may or may not be returned), so this is the stricter reading.
        if (stored.length < size) ended = true;
        if (raw) return stored;
        batch.bsonSizes = sizes;
        batch.stored = stored;
        if (ended) batch.last = true;
        return batch;
      });
    return {
      next: async (): Promise<IteratorResult<ScanBatch | Uint8Array[]>> => {
        const batch = await nextBatch();
        return batch.length === 0 ? { done: true, value: undefined } : { done: false, value: batch };
      },
    };
  }

  bulkWrite(ns: Namespace, ops: WriteOperation[], ordered: boolean, options: BulkWriteOptions = {}): Promise<BulkWriteOutcome> {
    return this.withFaults("bulkWrite", () => {
      const outcome: BulkWriteOutcome = { inserted: 0, upserted: 0, matched: 0, modified: 0, deleted: 0 };
      const writeErrors: Array<{ index: number; code: number; errmsg: string }> = [];
      let firstError: Error | undefined;
      // An unordered bulk reaches the server as the driver groups it: one insert command, then one update
      // command, then one delete command (mongodb driver src/bulk/unordered.ts `addToOperationsList` keeps a
      // batch per kind; src/bulk/common.ts `execute` sends insert, update, remove batches in that order). So a
      // delete queued before an upsert of the same `_id` runs after it.
      const kind = (op: WriteOperation): number => ("insertOne" in op ? 0 : "deleteOne" in op ? 2 : 1);
      const order = ops.map((op, index) => ({ op, index }));
      if (!ordered) order.sort((a, b) => kind(a.op) - kind(b.op) || a.index - b.index);
      for (const { op, index } of order) {
        if (firstError && ordered) break;
        try {
          if ("insertOne" in op) {
            this.requireWrite(ns, "insert");
            this.requireBypass(ns, options);
            this.state.insert(ns, op.insertOne.document);
            outcome.inserted++;
          } else if ("replaceOne" in op) {
            checkStatementSize(op.replaceOne.filter, op.replaceOne.replacement, op.replaceOne.upsert);
            this.requireWrite(ns, "update");
            if (op.replaceOne.upsert) this.requireWrite(ns, "insert");
            this.requireBypass(ns, options);
            const r = this.state.replace(ns, op.replaceOne.filter, op.replaceOne.replacement, op.replaceOne.upsert ?? false);
            outcome.matched += r.matched;
            outcome.modified += r.modified;
            if (r.upsertedId !== undefined) outcome.upserted++;
          } else if ("updateOne" in op) {
            checkStatementSize(op.updateOne.filter, op.updateOne.update, op.updateOne.upsert);
            this.requireWrite(ns, "update");
            if (op.updateOne.upsert) this.requireWrite(ns, "insert");
            this.requireBypass(ns, options);
            const r = this.state.update(ns, op.updateOne.filter, op.updateOne.update, op.updateOne.upsert ?? false, false);
            outcome.matched += r.matched;
            outcome.modified += r.modified;
            if (r.upsertedId !== undefined) outcome.upserted++;
          } else if ("deleteOne" in op) {
            this.requireWrite(ns, "remove");
            outcome.deleted += this.state.delete(ns, op.deleteOne.filter, false);
          } else {
            throw serverError(2, "BadValue", `unsupported bulk write operation ${Object.keys(op)[0]}`);
          }
        } catch (err) {
          const e = err as Error & { code?: number };
          writeErrors.push({ index, code: e.code ?? 0, errmsg: e.message });
          firstError ??= e;
        }
      }
      if (firstError) {
        // Like the driver's MongoBulkWriteError: the first error's code, plus every write error and the
        // counts of what did succeed.
        Object.assign(firstError, { writeErrors, outcome });
        throw firstError;
      }
      return outcome;
    });
  }

  /**
   * `bypassDocumentValidation: true` needs the bypassDocumentValidation action on the namespace (mongod:
   * src/mongo/db/auth/authorization_checks.cpp, checkAuthForInsert/Update add it when validation is bypassed;
   * docs "bypassDocumentValidation": dbAdmin and restore provide it). readWrite and readWriteAnyDatabase do not.
   */
  private requireBypass(ns: Namespace, options: BulkWriteOptions): void {
    if (!options.bypassDocumentValidation) return;
    if (!allows(this.currentPrivileges(), "bypassDocumentValidation", ns.db, ns.coll)) {
      throw unauthorizedError(ns.db, "insert/update with bypassDocumentValidation");
    }
  }

  findById(ns: Namespace, id: unknown): Promise<Document | null> {
    return this.withFaults("findById", () => {
      this.requireRead(ns);
      return this.state.lookup(ns, id);
    });
  }

  // ---- ClusterPort: change history ---------------------------------------------------------------------

  clusterTime(): Promise<Timestamp | undefined> {
    return this.withFaults("clusterTime", () => (this.state.topology === "standalone" ? undefined : this.state.currentTime()));
  }

  watch(start: ChangeStreamStart): Promise<ChangeCursor> {
    return this.withFaults("watch", () => {
      if (this.state.topology === "standalone") {
        throw serverError(40573, "Location40573", "The $changeStream stage is only supported on replica sets");
      }
      // A whole-deployment stream needs changeStream on every database (as readAnyDatabase grants).
      const privileges = this.currentPrivileges();
      if (!allows(privileges, "changeStream", "", "") && !allows(privileges, "changeStream")) {
        throw unauthorizedError("admin", "aggregate $changeStream");
      }
      const log = this.state.log;
      let position: number;
      let resumeFragment: { seq: number; fragment: number } | undefined;
      if (start.resumeAfter) {
        const token = decodeToken(start.resumeAfter);
        position = token.seq;
        if (token.fragment !== undefined) {
          // Resuming after fragment k of a split event: the stream starts again at that event, skipping k fragments.
          position = token.seq - 1;
          resumeFragment = { seq: token.seq, fragment: token.fragment };
        }
        log.assertRetainedAfter(position, "the resume token");
      } else if (start.startAtOperationTime) {
        log.assertRetainedFrom(start.startAtOperationTime, "the change stream's start time");
        position = log.seqBefore(start.startAtOperationTime);
      } else {
        position = log.latestSeq();
      }
      const shape = {
        omitUpdateDescription: start.omitUpdateDescription === true,
        split: start.splitLargeEvents === true && splitsLargeChangeEvents(this.state.version),
        resumeFragment,
      };
      const cursor = new MemoryChangeCursor(this.state, position, shape, (c) => this.cursors.delete(c));
      this.cursors.add(cursor);
      return cursor;
    });
  }

  oplogWindow(): Promise<OplogWindow | undefined> {
    return this.withFaults("oplogWindow", () => {
      if (this.state.topology === "standalone") return undefined;
      const { first } = this.state.log.window();
      const last = this.state.currentTime();
      return { first, last, seconds: (last.high >>> 0) - (first.high >>> 0) };
    });
  }

  // ---- ClusterPort: write blocking and users -----------------------------------------------------------

  setUserWriteBlocking(enabled: boolean): Promise<void> {
    return this.withFaults("setUserWriteBlocking", () => {
      if (this.state.topology === "standalone") {
        throw serverError(20, "IllegalOperation", "setUserWriteBlockMode is only supported on replica sets and sharded clusters");
      }
      if (!this.state.supportsUserWriteBlocking) {
        throw serverError(59, "CommandNotFound", "no such command: 'setUserWriteBlockMode'");
      }
      this.requireCluster("setUserWriteBlockMode");
      this.state.writeBlocking = enabled;
    });
  }

  userWriteBlocking(): Promise<boolean> {
    return this.withFaults("userWriteBlocking", () => this.state.writeBlocking);
  }

  listUsers(options: { showPrivileges?: boolean } = {}): Promise<UserInfo[]> {
    return this.withFaults("listUsers", () => {
      // usersInfo forAllDBs needs viewUser on the cluster (userAdminAnyDatabase grants it).
      this.requireCluster("viewUser");
      const listed = [...this.state.users.values()].map((u): UserInfo => ({ user: u.user, db: u.db, roles: u.roles.map((r) => ({ ...r })) }));
      if (this.state.accessControl && !this.state.users.has(`${ROOT_USER.db}.${ROOT_USER.user}`) && this.state.rootPrivileges === undefined) {
        listed.unshift({ user: ROOT_USER.user, db: ROOT_USER.db, roles: [{ role: "root", db: "admin" }] });
      }
      if (options.showPrivileges) {
        for (const u of listed) {
          u.privileges =
            u.user === ROOT_USER.user && u.db === ROOT_USER.db && !this.state.users.has(`${u.db}.${u.user}`)
              ? ROOT_PRIVILEGES
              : privilegesForRoles(u.roles);
        }
      }
      return listed;
    });
  }

  setUserRoles(user: string, db: string, roles: Role[]): Promise<void> {
    return this.withFaults("setUserRoles", () => {
      const record = this.state.users.get(`${db}.${user}`);
      // updateUser with roles needs grantRole on the database of every role it grants and revokeRole on the
      // database of every role it takes away (user_management_commands.cpp; docs: updateUser "Required Access").
      const privileges = this.currentPrivileges();
      for (const r of roles) if (!allows(privileges, "grantRole", r.db, "")) throw unauthorizedError(r.db, "grantRole");
      for (const r of record?.roles ?? []) if (!allows(privileges, "revokeRole", r.db, "")) throw unauthorizedError(r.db, "revokeRole");
      if (!record) throw serverError(11, "UserNotFound", `Could not find user "${user}" for db "${db}"`);
      if (this.state.topology === "sharded") {
        // Every other mongos keeps acting on the roles it cached until its next check, up to
        // userCacheInvalidationIntervalSecs later (docs: userCacheInvalidationIntervalSecs, "For mongos only").
        // The application is taken to connect through another mongos than the one changing the roles.
        const now = this.state.now();
        const effective = record.stale && now < record.stale.until ? record.stale.roles : record.roles;
        record.stale = { roles: effective.map((r) => ({ ...r })), until: now + this.state.userCacheInvalidationIntervalSecs * 1000 };
      }
      record.roles = roles.map((r) => ({ ...r }));
    });
  }

  userCacheInvalidationSeconds(): Promise<number | undefined> {
    return this.withFaults("userCacheInvalidationSeconds", () =>
      this.state.topology === "sharded" ? this.state.userCacheInvalidationIntervalSecs : undefined,
    );
  }

  // ---- ClusterPort: checkpoints ------------------------------------------------------------------------

  checkpoints(migrationId: string): CheckpointStore {
    return new MemoryCheckpointStore(this, migrationId);
  }

  /** Used by the checkpoint store: the same guards and faults as any other write. */
  checkpointOperation<T>(operation: FaultOperation, write: boolean, body: (state: ClusterState) => T): Promise<T> {
    return this.withFaults(operation, () => {
      const ns = { db: CHECKPOINT_DATABASE, coll: CHECKPOINT_COLLECTION };
      if (write) this.requireWrite(ns, "update");
      else this.requireRead(ns);
      return body(this.state);
    });
  }

  async close(): Promise<void> {
    for (const cursor of [...this.cursors]) await cursor.close();
    this.closed = this.principal.kind !== "root" || this.closesRoot();
  }

  /** The MemoryCluster object itself stays usable after close(); connections from connect()/as() do not. */
  protected closesRoot(): boolean {
    return true;
  }
}

// ---- change cursor -----------------------------------------------------------------------------------------

/** Change events mongod shows only with showExpandedEvents, which exists from 6.0 (docs: change-events). */
const EXPANDED_EVENTS = new Set(["create", "createIndexes", "dropIndexes", "modify", "shardCollection", "refineCollectionShardKey", "reshardCollection"]);

/** How a stream was opened: its pipeline's projection and split stage, and a split event it resumes inside. */
interface StreamShape {
  omitUpdateDescription: boolean;
  split: boolean;
  resumeFragment: { seq: number; fragment: number } | undefined;
}

/**
 * A getMore's reply holds at most 16 MiB of events, the first always (docs: "Cursor Batches": a batch is at
 * most 16 MiB; server: FindCommon::haveSpaceForNext). So each ~16 MB fragment arrives in its own batch.
 */
const BATCH_BYTES = BSON_OBJ_MAX_USER_SIZE;

/** A cheap upper bound of an event's size: exact serialization only when the event could be near a limit. */
function sizeOf(event: ChangeEvent, documentBytes: number): number {
  const rough = documentBytes + (event.updateDescription ? bsonSize(event.updateDescription) : 0) + 1024;
  return rough < 1024 * 1024 ? rough : eventSize(event);
}

export class MemoryChangeCursor implements ChangeCursor {
  private closed = false;
  private position: number;
  private positionTime: Timestamp | undefined;
  /** Fragments of the event at `position` not delivered yet, and the token of the last one delivered. */
  private fragments: Array<{ event: ChangeEvent; size: number }> = [];
  private fragmentToken: ResumeToken | undefined;

  constructor(
    private readonly state: ClusterState,
    startSeq: number,
    private readonly shape: StreamShape,
    private readonly onClose: (cursor: MemoryChangeCursor) => void,
  ) {
    this.position = startSeq;
  }

  /** The events (or fragments) of one entry, or undefined when the stream does not show it. */
  private eventsOf(entry: LogEntry): Array<{ event: ChangeEvent; size: number }> | undefined {
    // Like a whole-deployment stream: internal databases and our own checkpoint database are not shown.
    if (entry.ns && INTERNAL_DATABASES.has(entry.ns.db)) return undefined;
    // …nor system collections (docs: Mongo.watch opens a stream on "all its non-system collections").
    if (entry.ns?.coll?.startsWith("system.")) return undefined;
    // Only the events the reported version shows: DDL beyond drop/rename/dropDatabase/invalidate needs
    // showExpandedEvents (6.0+), endOfTransaction 8.0+ (docs: change-events; "Expanded Events").
    if (EXPANDED_EVENTS.has(entry.operationType) && this.state.major < 6) return undefined;
    if (entry.operationType === "endOfTransaction" && this.state.major < 8) return undefined;
    let fullDocument: Document | null | undefined;
    let documentBytes = entry.documentBytes?.length ?? 0;
    if (entry.documentBytes) fullDocument = fromBson(entry.documentBytes, EXACT_BSON);
    else if (entry.operationType === "update") {
      const ns = { db: entry.ns!.db, coll: entry.ns!.coll! };
      documentBytes = this.state.collection(ns)?.get(entry.documentKey!._id)?.bytes.length ?? 0;
      fullDocument = this.state.lookup(ns, entry.documentKey!._id);
    }
    const event = toChangeEvent(entry, fullDocument, this.shape.omitUpdateDescription, this.state.major >= 6);
    const size = sizeOf(event, documentBytes);
    const resume = this.shape.resumeFragment?.seq === entry.seq ? this.shape.resumeFragment.fragment : 0;
    if (this.shape.split) {
      // mongod counts the token twice (the event's _id and the reply's postBatchResumeToken).
      if (size + bsonSize({ _id: event._id }) <= MAX_CHANGE_EVENT_SIZE) {
        if (resume > 0) {
          throw serverError(
            280,
            "ChangeStreamFatalError",
            "Attempted to resume from a split event, but the resumed stream produced a different split. Ensure that the pipeline used to resume is the same as the original",
          );
        }
        return [{ event, size }];
      }
      const parts = splitEvent(event, (n) => encodeToken(entry.seq, entry.clusterTime, n));
      return parts.slice(resume).map((p) => ({ event: p, size: eventSize(p) }));
    }
    if (size > BSON_OBJ_MAX_INTERNAL_SIZE) throw eventTooLargeError(size, event);
    return [{ event, size }];
  }

  private readEvents(): ChangeEvent[] {
    const log = this.state.log;
    const events: ChangeEvent[] = [];
    let bytes = 0;
    const fits = (size: number): boolean => events.length === 0 || bytes + size <= BATCH_BYTES;
    while (this.fragments.length > 0) {
      const next = this.fragments[0];
      if (!fits(next.size)) return events;
      this.fragments.shift();
      events.push(next.event);
      bytes += next.size;
      this.fragmentToken = next.event._id;
    }
    log.assertRetainedAfter(this.position, "the change stream's position");
    for (;;) {
      const entries = log.read(this.position, this.state.maxEventsPerBatch);
      if (entries.length === 0) break;
      for (const entry of entries) {
        if (events.length >= this.state.maxEventsPerBatch) return events;
        // Past the majority commit point: nothing from here on is shown yet (ChangeLog.setMajorityCommitLag).
        if (!log.majorityCommitted(entry.seq)) return events;
        const shown = this.eventsOf(entry);
        if (!shown || shown.length === 0) {
          this.position = entry.seq;
          this.positionTime = entry.clusterTime;
          continue;
        }
        if (!fits(shown[0].size)) return events;
        this.position = entry.seq;
        this.positionTime = entry.clusterTime;
        this.fragments = shown;
        this.fragmentToken = undefined;
        while (this.fragments.length > 0 && fits(this.fragments[0].size)) {
          const next = this.fragments.shift()!;
          events.push(next.event);
          bytes += next.size;
          if (next.event.splitEvent) this.fragmentToken = next.event._id;
        }
        if (this.fragments.length > 0) return events;
      }
      if (events.length > 0) break;
    }
    // An idle stream still moves its resume point to the newest time it has looked at.
    if (events.length === 0 && this.position === log.latestSeq()) this.positionTime = log.latestTime();
    return events;
  }

  async nextBatch(maxWaitMs: number): Promise<ChangeEvent[]> {
    if (this.closed) throw serverError(43, "CursorNotFound", "change stream cursor is closed");
    const afterError = this.state.faults.check("nextBatch");
    let events = this.readEvents();
    // An awaitData getMore (a change stream's, maxAwaitTimeMS): the server returns as soon as the batch holds
    // one event, and otherwise keeps waiting until the time is up — a write the stream does not show (another
    // database's internal write, a system collection) wakes it, finds nothing, and it waits again
    // (mongod src/mongo/db/commands/getmore_cmd.cpp: "As soon as we get a result, this operation no longer
    // waits"; docs getMore: maxTimeMS on an awaitData cursor is how long it blocks waiting for new data).
    const clock = this.state.awaitClock;
    const deadline = clock.now() + Math.max(0, maxWaitMs);
    while (events.length === 0 && !this.closed) {
      const left = deadline - clock.now();
      if (left <= 0) break;
      await this.state.log.waitForAppend(left, clock.sleep);
      if (this.closed) return [];
      events = this.readEvents();
    }
    this.state.log.notePoll();
    if (afterError) throw afterError;
    return events;
  }

  resumeToken(): ResumeToken | undefined {
    // Inside a split event: after the last fragment delivered (resuming there returns the remaining ones).
    if (this.fragments.length > 0 && this.fragmentToken) return this.fragmentToken;
    return encodeToken(this.position, this.positionTime);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.onClose(this);
  }
}

// ---- checkpoints ---------------------------------------------------------------------------------------

export const CHECKPOINT_COLLECTION = "checkpoints";

/** Checkpoint values come back with the driver's default promotion (numbers as JS numbers). */
const CHECKPOINT_READ = { promoteValues: true, promoteLongs: true, bsonRegExp: false };

class MemoryCheckpointStore implements CheckpointStore {
  private readonly ns: Namespace = { db: CHECKPOINT_DATABASE, coll: CHECKPOINT_COLLECTION };

  constructor(
    private readonly connection: MemoryClusterConnection,
    private readonly migrationId: string,
  ) {}

  private id(key: string): string {
    return `${this.migrationId}/${key}`;
  }

  private read(state: ClusterState, key: string): Document | null {
    const stored = state.collection(this.ns)?.get(this.id(key));
    if (!stored) return null;
    const doc = fromBson(stored.bytes, CHECKPOINT_READ);
    return { ...(doc.value as Document), version: doc.version as number };
  }

  private record(key: string, version: number, value: Document): Document {
    const { version: _ignored, ...rest } = value;
    return { _id: this.id(key), migrationId: this.migrationId, key, version, value: rest };
  }

  get(key: string): Promise<Document | null> {
    return this.connection.checkpointOperation("checkpoint.get", false, (state) => this.read(state, key));
  }

  put(key: string, value: Document): Promise<void> {
    return this.connection.checkpointOperation("checkpoint.put", true, (state) => {
      const current = this.read(state, key);
      const version = ((current?.version as number | undefined) ?? 0) + 1;
      state.replace(this.ns, { _id: this.id(key) }, this.record(key, version, value), true);
    });
  }

  compareAndSet(key: string, expectedVersion: number | null, value: Document): Promise<boolean> {
    return this.connection.checkpointOperation("checkpoint.compareAndSet", true, (state) => {
      const current = this.read(state, key);
      const currentVersion = current ? (current.version as number) : null;
      if (currentVersion !== expectedVersion) return false;
      state.replace(this.ns, { _id: this.id(key) }, this.record(key, (expectedVersion ?? 0) + 1, value), true);
      return true;
    });
  }

  clear(): Promise<void> {
    return this.connection.checkpointOperation("checkpoint.clear", true, (state) => {
      state.delete(this.ns, { migrationId: this.migrationId }, true);
    });
  }
}
