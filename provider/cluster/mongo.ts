// MongoClusterPort: ClusterPort on the real `mongodb` driver.
//
// Documents are read with promoteValues/promoteLongs/promoteBuffers off and bsonRegExp on, so Int64,
// Double, Decimal128, BSON regexes (with flags JS cannot express) and Binary subtypes reach the target as
// they were. Ranges in `_id` order use the `_id` index bounds (find with min/max and a hint) rather than
// $gt/$lt, because MongoDB's comparison operators only match values of the same type while `_id` order
// spans every type. Servers that ignore min/max (FerretDB v1; found by capabilities.ts' indexBounds probe,
// never by name) get a `$type`-bracketed range filter instead (idRangeFilter). Errors keep the driver's classes and codes (so callers can tell retryable ones), but
// their messages are redacted; a change history that no longer reaches the resume point becomes
// HistoryLostError.

import {
  BSON,
  MongoClient,
  MongoInvalidArgumentError,
  MongoServerError,
  ReadPreference,
  Timestamp,
  type ChangeStream,
  type ChangeStreamOptions,
  type Document,
  type FindCursor,
  type MongoClientOptions,
} from "mongodb";
import { HistoryLostError, describeError, redact } from "../errors";
import { EXACT_BSON, bsonEquals, typeRank } from "./bson-order";
import { storedId } from "./raw-bson";
import { probeCapabilities, probeIndexBounds, type ServerCapabilities } from "./capabilities";
import type { OpenClusterOptions } from "./open";
import {
  BSON_UNDEFINED_TAG,
  CHECKPOINT_DATABASE,
  type BulkWriteOutcome,
  type ChangeCursor,
  type ChangeEvent,
  type AuthenticatedUser,
  type BulkWriteOptions,
  type ChangeStreamStart,
  type CheckpointStore,
  type ClusterPort,
  type CollectionInfo,
  type CollectionKind,
  type CollectionStats,
  type IdRange,
  type IndexSpec,
  type Namespace,
  type OplogWindow,
  type Privilege,
  type ResumeToken,
  type ScanBatch,
  type ServerInfo,
  type Topology,
  type UserInfo,
  type WriteOperation,
  splitsLargeChangeEvents,
} from "./port";

const PRIMARY = ReadPreference.primary;

const INTERNAL_DATABASES = new Set(["admin", "config", "local", CHECKPOINT_DATABASE]);
const CHECKPOINT_COLLECTION = "checkpoints";

/** Server error codes meaning the change history no longer covers the stream's position. */
const HISTORY_LOST_CODES = new Set([
  286, // ChangeStreamHistoryLost
  280, // ChangeStreamFatalError (e.g. resume token not found)
  136, // CappedPositionLost
]);

/** listCollections / listIndexes metadata: numbers as JS numbers (as MemoryCluster reports them), regex kept. */
const METADATA_BSON = { promoteValues: true, promoteLongs: true, bsonRegExp: true } as const;

/** `scheme://host1,host2` — no credentials, no query string (it may hold secrets). */
export function describeUri(uri: string): string {
  const match = /^([a-z+]+:\/\/)(?:[^@/]*@)?([^/?]*)/i.exec(uri);
  return match ? `${match[1]}${match[2]}` : redact(uri);
}

/** Rewrites an error so nothing secret leaves it, and maps lost change history to HistoryLostError. */
export function translateDriverError(err: unknown, context: string): Error {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "number" && HISTORY_LOST_CODES.has(code)) {
    return new HistoryLostError(
      `${context}: the source's change history (oplog) no longer reaches the resume point (${describeError(err)}); restart the sync from a fresh copy`,
    );
  }
  if (err instanceof Error) {
    markDuplicateKey(err);
    err.message = redact(err.message);
    if (err.stack) err.stack = redact(err.stack);
    // MongoBulkWriteError: surface the first write error's code like MemoryCluster does.
    const bulk = err as Error & { code?: number; writeErrors?: Array<{ code?: number }> | { code?: number } };
    if (bulk.code === undefined && bulk.writeErrors) {
      const first = Array.isArray(bulk.writeErrors) ? bulk.writeErrors[0] : bulk.writeErrors;
      if (first?.code !== undefined) bulk.code = first.code;
    }
    return err;
  }
  return new Error(`${context}: ${describeError(err)}`);
}

/**
 * FerretDB v1 (SQLite backend) reports a unique-index collision on update/replace as InternalError (1) with
 * SQLite's "UNIQUE constraint failed: index '…'" (its insert path does say 11000). Callers decide on
 * DuplicateKey (11000), so the error gets that code; its message still says what the server said.
 */
function markDuplicateKey(err: Error): void {
  const e = err as Error & { code?: unknown };
  if (Number(e.code) === 1 && /UNIQUE constraint failed/.test(err.message)) e.code = 11000;
}

function stripIndexMetadata(spec: Document): IndexSpec {
  const { v: _v, key, name, ns: _ns, ...options } = spec;
  return { name: name as string, key: key as Document, options };
}

/**
 * `_id` sort order as `$type` brackets (MongoDB's documented cross-type comparison order): values in one
 * bracket compare with `$gt`/`$lt`, values in different brackets by bracket. Indexed by bracketOf().
 */
const SORT_BRACKETS: string[][] = [
  ["minKey"],
  ["null", "undefined"],
  ["int", "long", "double", "decimal"],
  ["symbol", "string"],
  ["object"],
  ["array"],
  ["binData"],
  ["objectId"],
  ["bool"],
  ["date"],
  ["timestamp"],
  ["regex"],
  ["javascript"],
  ["javascriptWithScope"],
  ["maxKey"],
];
/** Brackets holding a single value, where `$gt`/`$lt` within the bracket have nothing to compare. */
const SINGLETON_BRACKETS = new Set([0, 1, SORT_BRACKETS.length - 1]);

function bracketOf(value: unknown): number {
  const rank = typeRank(value);
  return rank === 100 ? SORT_BRACKETS.length - 1 : rank - 1;
}

/**
 * The filter for `lower < _id < before` (`lower <= _id` when the lower bound is inclusive) in `_id` sort order, for servers
 * that ignore find's min/max: MongoDB's comparison operators only match within the bound's type bracket
 * (`{$gt: 5}` never matches a string), so each side is "greater within the bracket, or any later bracket".
 */
export function idRangeFilter(brackets: string[][], lower: unknown, lowerExclusive: boolean, before: unknown): Document {
  const side = (bound: unknown, op: "$gt" | "$gte" | "$lt"): Document => {
    const b = bracketOf(bound);
    const others = (op === "$lt" ? brackets.slice(0, b) : brackets.slice(b + 1)).flat();
    const clauses: Document[] = [];
    if (op === "$gte" && SINGLETON_BRACKETS.has(b)) clauses.push({ _id: bound });
    else if (!SINGLETON_BRACKETS.has(b)) clauses.push({ _id: { [op]: bound } });
    if (others.length > 0) clauses.push({ _id: { $type: others } });
    return clauses.length === 0 ? { _id: { $in: [] } } : clauses.length === 1 ? clauses[0] : { $or: clauses };
  };
  const parts: Document[] = [];
  if (lower !== undefined) parts.push(side(lower, lowerExclusive ? "$gt" : "$gte"));
  if (before !== undefined) parts.push(side(before, "$lt"));
  return parts.length === 0 ? {} : parts.length === 1 ? parts[0] : { $and: parts };
}

/** The `$type` aliases a filter from idRangeFilter names. */
function typeAliasesIn(filter: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(filter)) for (const f of filter) typeAliasesIn(f, into);
  else if (filter !== null && typeof filter === "object" && (filter as { _bsontype?: unknown })._bsontype === undefined) {
    for (const [key, value] of Object.entries(filter as Document)) {
      if (key === "$type") for (const alias of value as string[]) into.add(alias);
      else typeAliasesIn(value, into);
    }
  }
  return into;
}

/**
 * The driver's bulk API refuses a statement (an insert's document, an update's {q, u, upsert, multi}) of
 * maxBsonObjectSize or more while building its batches, before anything is sent: MongoInvalidArgumentError
 * "Document is larger than the maximum size" (node_modules/mongodb/lib/bulk/ordered.js and unordered.js,
 * addToOperationsList). mongod itself stores documents up to and including 16 MiB.
 */
function isStatementTooLargeForBulk(err: unknown): boolean {
  return err instanceof MongoInvalidArgumentError && /Document is larger than the maximum size/.test(err.message);
}

/** Find options of a scan: documents as raw BSON bytes, decoded by the port (see scanIterator). */
const RAW = { raw: true } as const;
/** How scanned bytes are decoded: exact BSON types, UTF-8 validated as the driver does by default (enableUtf8Validation). */
const DECODE: BSON.DeserializeOptions = { ...EXACT_BSON, validation: { utf8: true } };

export class MongoClusterPort implements ClusterPort {
  readonly description: string;
  /** Remembered for deployments where the server cannot report it (mongos has no `repl` section). */
  private lastWriteBlockingSet: boolean | undefined;
  /** listCommands' answer, asked once (which commands exist does not change while connected). */
  private commandNames: Promise<Set<string>> | undefined;
  /** Whether find honours min/max on the `_id` index; undefined until probed on a non-empty collection. */
  private boundsHonoured: boolean | undefined;
  /** `$type` aliases this server refused (it cannot store those types), for the range plan without bounds. */
  private readonly rejectedAliases = new Set<string>();

  private constructor(
    private readonly client: MongoClient,
    description: string,
  ) {
    this.description = description;
  }

  /** Connects and checks the deployment answers; the error names the URI with credentials masked. */
  static async connect(uri: string, options: OpenClusterOptions = {}): Promise<MongoClusterPort> {
    const description = describeUri(uri);
    const clientOptions: MongoClientOptions = {
      appName: options.appName ?? "pulumi-atlas-migration",
      ...(options.driverOptions as MongoClientOptions | undefined),
    };
    let client: MongoClient | undefined;
    try {
      client = new MongoClient(uri, clientOptions);
      await client.connect();
      await client.db("admin").command({ ping: 1 });
    } catch (err) {
      await client?.close().catch(() => undefined);
      throw new Error(redact(`cannot connect to ${description}: ${describeError(err)}`));
    }
    return new MongoClusterPort(client, description);
  }

  /** Wraps a client the caller already connected (tests); close() closes it. */
  static fromClient(client: MongoClient, description = "mongodb://(client)"): MongoClusterPort {
    return new MongoClusterPort(client, description);
  }

  private async run<T>(what: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      throw translateDriverError(err, `${this.description}: ${what}`);
    }
  }

  /**
   * Every read of migrated data goes to the primary, whatever `readPreference` the URI names: T0 comes from the
   * primary, and a copy read from a lagging secondary could miss writes made just before T0 (they would be in
   * neither the copy nor the change stream). Reads of the checkpoint on the target likewise.
   */
  private collection(ns: Namespace) {
    return this.client.db(ns.db).collection(ns.coll, { readPreference: PRIMARY });
  }

  // ---- metadata ----------------------------------------------------------------------------------------

  serverInfo(): Promise<ServerInfo> {
    return this.run("serverInfo", async () => {
      const admin = this.client.db("admin");
      const hello = await admin.command({ hello: 1 });
      const build = await admin.command({ buildInfo: 1 });
      const topology: Topology = hello.msg === "isdbgrid" ? "sharded" : hello.setName ? "replicaSet" : "standalone";
      const version = String(build.version);
      // Asked, not inferred from the version: FerretDB reports 7.0.42 and has no setUserWriteBlockMode.
      const commands = await this.listCommands();
      return { version, topology, supportsUserWriteBlocking: topology !== "standalone" && commands.has("setUserWriteBlockMode") };
    });
  }

  authenticatedUsers(): Promise<AuthenticatedUser[]> {
    return this.run("authenticatedUsers", async () => {
      const status = await this.client.db("admin").command({ connectionStatus: 1 });
      const users = (status.authInfo?.authenticatedUsers as Document[] | undefined) ?? [];
      return users.map((u) => ({ user: String(u.user), db: String(u.db) }));
    });
  }

  private listCommands(): Promise<Set<string>> {
    this.commandNames ??= this.client
      .db("admin")
      .command({ listCommands: 1 })
      .then((r) => new Set(Object.keys((r.commands as Document | undefined) ?? {})));
    this.commandNames.catch(() => (this.commandNames = undefined));
    return this.commandNames;
  }

  /** What this server can do for a migration (provider/cluster/capabilities.ts); `sample` is a non-empty collection. */
  capabilities(sample?: Namespace): Promise<ServerCapabilities> {
    return this.run("capabilities", async () => {
      const caps = await probeCapabilities(this.client, { sample });
      this.learnIndexBounds(caps.indexBounds);
      return caps;
    });
  }

  /** Scans follow the index-bounds probe's answer once it is known (an empty sample leaves it unknown). */
  private learnIndexBounds(probe: { supported: boolean; answer: string }): void {
    if (!probe.answer.startsWith("unknown")) this.boundsHonoured = probe.supported;
  }

  privileges(): Promise<Privilege[]> {
    return this.run("privileges", async () => {
      const status = await this.client.db("admin").command({ connectionStatus: 1, showPrivileges: true });
      const authInfo = status.authInfo ?? {};
      const users = (authInfo.authenticatedUsers as unknown[] | undefined) ?? [];
      if (users.length === 0) {
        // Not authenticated yet connected and answering: access control is off, everything is allowed.
        return [{ resource: { anyResource: true }, actions: ["anyAction"] }];
      }
      return ((authInfo.authenticatedUserPrivileges as Document[] | undefined) ?? []).map((p) => ({
        resource: { ...(p.resource as Document) },
        actions: [...(p.actions as string[])],
      }));
    });
  }

  listCollections(): Promise<CollectionInfo[]> {
    return this.run("listCollections", async () => {
      const dbs = await this.client.db("admin").admin().listDatabases({ nameOnly: true, authorizedDatabases: true });
      const out: CollectionInfo[] = [];
      for (const db of dbs.databases.map((d) => d.name).sort()) {
        if (INTERNAL_DATABASES.has(db)) continue;
        const infos = (await this.client.db(db, { readPreference: PRIMARY }).listCollections({}, { ...METADATA_BSON, nameOnly: false }).toArray()) as Document[];
        for (const info of infos.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          const kind = (info.type ?? "collection") as CollectionKind;
          const indexes =
            kind === "view"
              ? []
              : (await this.collection({ db, coll: info.name }).listIndexes({ ...METADATA_BSON }).toArray()).map(stripIndexMetadata);
          out.push({ db, name: info.name, kind, options: (info.options as Document | undefined) ?? {}, indexes });
        }
      }
      return out;
    });
  }

  collectionStats(ns: Namespace): Promise<CollectionStats> {
    return this.run("collectionStats", async () => {
      try {
        const perShard = await this.collection(ns).aggregate([{ $collStats: { storageStats: {} } }]).toArray();
        let count = 0;
        let sizeBytes = 0;
        for (const s of perShard) {
          count += Number(s.storageStats?.count ?? 0);
          sizeBytes += Number(s.storageStats?.size ?? 0);
        }
        return { count, sizeBytes };
      } catch (err) {
        if ((err as { code?: number }).code === 26) return { count: 0, sizeBytes: 0 }; // NamespaceNotFound
        throw err;
      }
    });
  }

  createCollection(info: CollectionInfo): Promise<void> {
    return this.run(`createCollection ${info.db}.${info.name}`, async () => {
      const options: Document = { ...info.options };
      if (options.clusteredIndex) {
        const { v: _v, ...clustered } = options.clusteredIndex as Document;
        options.clusteredIndex = clustered;
      }
      try {
        await this.client.db(info.db).createCollection(info.name, options);
      } catch (err) {
        if ((err as { code?: number }).code !== 48) throw err; // NamespaceExists
        const [existing] = await this.client.db(info.db).listCollections({ name: info.name }, { nameOnly: false }).toArray();
        if ((existing?.type ?? "collection") !== info.kind) throw err;
      }
    });
  }

  createIndexes(ns: Namespace, indexes: IndexSpec[]): Promise<void> {
    return this.run(`createIndexes ${ns.db}.${ns.coll}`, async () => {
      const specs = indexes.filter((i) => i.name !== "_id_").map((i) => ({ ...i.options, key: i.key, name: i.name }));
      if (specs.length > 0) await this.collection(ns).createIndexes(specs as never);
    });
  }

  setIndexExpiry(ns: Namespace, indexName: string, expireAfterSeconds: number): Promise<void> {
    return this.run(`setIndexExpiry ${ns.db}.${ns.coll}`, async () => {
      await this.client.db(ns.db).command({ collMod: ns.coll, index: { name: indexName, expireAfterSeconds } });
    });
  }

  dropCollection(ns: Namespace): Promise<void> {
    return this.run(`dropCollection ${ns.db}.${ns.coll}`, async () => {
      try {
        await this.client.db(ns.db).dropCollection(ns.coll);
      } catch (err) {
        if ((err as { code?: number }).code !== 26) throw err; // already gone (servers before 7.0 say so)
      }
    });
  }

  renameCollection(from: Namespace, to: Namespace, dropTarget: boolean): Promise<void> {
    return this.run(`renameCollection ${from.db}.${from.coll}`, async () => {
      const rename = (drop: boolean) =>
        this.client.db("admin").command({ renameCollection: `${from.db}.${from.coll}`, to: `${to.db}.${to.coll}`, dropTarget: drop });
      try {
        await rename(dropTarget);
      } catch (err) {
        // FerretDB v1: "renameCollection: support for field "dropTarget" with non-default value true is not
        // implemented yet" (NotImplemented, 238). Drop the target first, then rename: not atomic, but the
        // engine only renames on the target it owns, where nobody else writes before cutover.
        if (!dropTarget || (err as { code?: number }).code !== 238) throw err;
        await this.dropCollection(to);
        await rename(false);
      }
    });
  }

  dropDatabase(db: string): Promise<void> {
    return this.run(`dropDatabase ${db}`, async () => {
      await this.client.db(db).dropDatabase();
    });
  }

  // ---- data --------------------------------------------------------------------------------------------

  countDocuments(ns: Namespace): Promise<number> {
    return this.run(`countDocuments ${ns.db}.${ns.coll}`, () => this.collection(ns).countDocuments({}));
  }

  splitPoints(ns: Namespace, parts: number): Promise<unknown[]> {
    return this.run(`splitPoints ${ns.db}.${ns.coll}`, async () => {
      if (parts <= 1) return [];
      // Where find ignores index bounds (FerretDB v1) every range is a read and in-memory sort of the whole
      // collection, so more ranges multiply the work: one range (no points). Measured on 100 000 documents
      // FerretDB → FerretDB (tests/ferretdb/snapshot-bench.ts): the copy took 36 s in one range, 316 s in four.
      if (this.boundsHonoured === undefined) this.learnIndexBounds(await probeIndexBounds(this.client, ns));
      if (this.boundsHonoured === false) return [];
      const total = await this.collection(ns).countDocuments({});
      const positions: number[] = [];
      for (let i = 1; i < parts; i++) {
        const at = Math.floor((i * total) / parts);
        if (at > (positions[positions.length - 1] ?? 0) && at < total) positions.push(at);
      }
      if (positions.length === 0) return [];
      // One walk of the `_id` index (covered: only `_id` is projected), taking the `_id` at each position and
      // stopping after the last: O(documents) index keys in all, where a `skip` per point re-walked the index from
      // its start each time (issue 8 finding 14) and made FerretDB sort the whole collection once per point.
      const cursor = this.collection(ns).find({}, { ...EXACT_BSON, hint: { _id: 1 }, sort: { _id: 1 }, projection: { _id: 1 }, batchSize: 10_000 });
      const points: unknown[] = [];
      try {
        for (let at = 0; points.length < positions.length; at++) {
          const doc = await cursor.next();
          if (!doc) break; // documents deleted since the count: fewer, still ordered, points
          if (at === positions[points.length]) points.push(doc._id);
        }
      } finally {
        await cursor.close().catch(() => undefined);
      }
      return points;
    });
  }

  lastId(ns: Namespace): Promise<unknown | undefined> {
    // Sorted on `_id` alone, so the server answers from the end of the `_id` index (in the collection's default
    // collation, the order scan's min/max and range filters follow); FerretDB sorts in memory, once per plan.
    return this.run(`lastId ${ns.db}.${ns.coll}`, async () => {
      const doc = await this.collection(ns).findOne({}, { ...EXACT_BSON, sort: { _id: -1 }, projection: { _id: 1 } });
      return doc ? doc._id : undefined;
    });
  }

  scan(ns: Namespace, range: IdRange, batchSize: number): AsyncIterable<ScanBatch> {
    const size = Math.max(1, Math.floor(batchSize));
    return { [Symbol.asyncIterator]: () => this.scanIterator(ns, range, size, false) };
  }

  /**
   * The documents' bytes as the server stores them: find with `raw: true` (BSONSerializeOptions.raw, mongodb.d.ts;
   * the cursor hands out each document's bytes from the reply, lib/cmap/wire_protocol/responses.js
   * CursorResponse.shift → `toBytes()`), so nothing is decoded into a JS object and re-encoded.
   */
  scanStored(ns: Namespace, range: IdRange, batchSize: number): AsyncIterable<Uint8Array[]> {
    const size = Math.max(1, Math.floor(batchSize));
    return { [Symbol.asyncIterator]: () => this.scanIterator(ns, range, size, true) as unknown as AsyncIterator<Uint8Array[]> };
  }

  /**
   * One pass over a range; each iteration of a scan's iterable starts its own pass.
   *
   * Documents are read raw (`raw: true`): the driver then hands each one out as its bytes in the reply
   * (node_modules/mongodb lib/cmap/wire_protocol/responses.js CursorResponse.shift: `result.toBytes()`, a
   * subarray of the reply buffer, on_demand/document.js), and decoding them here is the one walk the driver
   * would have made anyway (its `toObject` is the same `deserialize` with the same options). So every batch
   * carries each document's BSON size (`bsonSizes`) and stored bytes (`stored`), and the copier never measures a
   * document again. `rawOnly`: batches are the bytes alone (scanStored), nothing decoded but each last `_id`.
   */
  private scanIterator(ns: Namespace, range: IdRange, size: number, rawOnly: boolean): AsyncIterator<ScanBatch> {
    // `min` is inclusive, so an exclusive lower bound asks for one extra document and drops the bound itself.
    let lower: unknown = range.after !== undefined ? range.after : range.from;
    let lowerExclusive = range.after !== undefined;
    const withBounds = async (): Promise<Uint8Array[]> => {
      const docs = (await this.collection(ns)
        .find(
          {},
          {
            ...RAW,
            hint: { _id: 1 },
            sort: { _id: 1 },
            ...(lower !== undefined ? { min: { _id: lower } } : {}),
            ...(range.before !== undefined ? { max: { _id: range.before } } : {}),
            limit: size + (lowerExclusive ? 1 : 0),
            batchSize: size + 1,
          },
        )
        .toArray()) as unknown as Uint8Array[];
      return docs;
    };
    // Without bounds, one cursor serves the whole pass: FerretDB sorts a collection in memory per query, so a
    // query per batch would cost a full sort every batch (quadratic). A lost cursor reopens after `lower`.
    let cursor: FindCursor<Uint8Array> | undefined;
    /** The `$type` aliases the open cursor's filter names (a refusal of one of them is answered by dropping it). */
    let sentAliases = new Set<string>();
    let exhausted = false;
    /** A bounded pass read the range's end: nothing more to ask for. */
    let ended = false;
    const withoutBounds = async (): Promise<Uint8Array[]> => {
      if (exhausted) return [];
      for (let reopened = 0; ; ) {
        if (!cursor) {
          const filter = idRangeFilter(this.sortBrackets(), lower, lowerExclusive, range.before);
          sentAliases = typeAliasesIn(filter);
          cursor = this.collection(ns).find(filter, {
            ...RAW,
            sort: { _id: 1 },
            batchSize: size,
          }) as unknown as FindCursor<Uint8Array>;
        }
        try {
          const docs: Uint8Array[] = [];
          while (docs.length < size) {
            const doc = await cursor.next();
            if (!doc) break;
            docs.push(doc);
          }
          if (docs.length < size) {
            exhausted = true;
            await cursor.close();
            cursor = undefined;
          }
          return docs;
        } catch (err) {
          await cursor?.close().catch(() => undefined);
          cursor = undefined;
          if (this.rejectAlias(err, sentAliases)) continue;
          // CursorNotFound (43): the server dropped an idle cursor; nothing past `lower` was handed out yet.
          if (Number((err as { code?: unknown }).code) === 43 && reopened++ === 0) continue;
          throw err;
        }
      }
    };
    const fetch = async (): Promise<ScanBatch> =>
      this.run(`scan ${ns.db}.${ns.coll}`, async () => {
        // Asked once per connection, on the first collection scanned that holds a document (the preflight's
        // capability probe may have answered already). Where find honours min/max (mongod) each batch is one
        // bounded walk of the `_id` index; where it does not (FerretDB v1) one filtered cursor serves the pass.
        if (this.boundsHonoured === undefined) this.learnIndexBounds(await probeIndexBounds(this.client, ns));
        // Unknown (empty collection) takes the plan that is correct either way.
        const bounded = this.boundsHonoured === true;
        if (bounded && ended) return [] as unknown as ScanBatch;
        const raw = bounded ? await withBounds() : await withoutBounds();
        // `min` is inclusive: an exclusive lower bound was asked for one extra document, the bound itself.
        const from = raw.length > 0 && lowerExclusive && bsonEquals(storedId(raw[0]), lower) ? 1 : 0;
        const stored = raw.slice(from, from + size);
        // Fewer than asked for: the range held no more when it was read (a bounded find returns up to its limit;
        // the filtered cursor was read until it ran out), so the next call need not ask.
        const last = bounded ? raw.length < size + (lowerExclusive ? 1 : 0) : exhausted;
        ended = last;
        if (stored.length > 0) {
          lower = storedId(stored[stored.length - 1]);
          lowerExclusive = true;
        }
        if (rawOnly) return stored as unknown as ScanBatch;
        const batch: ScanBatch = [];
        const sizes: number[] = [];
        const suspects: number[] = [];
        for (let i = 0; i < stored.length; i++) {
          // No 0x06 byte at all: no element of the undefined type (the copier need not look inside).
          if (stored[i].indexOf(BSON_UNDEFINED_TAG) !== -1) suspects.push(i);
          batch.push(BSON.deserialize(stored[i], DECODE));
          sizes.push(stored[i].byteLength);
        }
        batch.bsonSizes = sizes;
        batch.undefinedSuspects = suspects;
        batch.stored = stored;
        if (last) batch.last = true;
        return batch;
      });
    return {
      next: async (): Promise<IteratorResult<ScanBatch>> => {
        const batch = await fetch();
        return batch.length === 0 ? { done: true, value: undefined } : { done: false, value: batch };
      },
      return: async (): Promise<IteratorResult<ScanBatch>> => {
        await cursor?.close().catch(() => undefined);
        cursor = undefined;
        return { done: true, value: undefined };
      },
    };
  }

  /** SORT_BRACKETS less the `$type` aliases this server has rejected. */
  private sortBrackets(): string[][] {
    return SORT_BRACKETS.map((b) => b.filter((alias) => !this.rejectedAliases.has(alias)));
  }

  /**
   * FerretDB v1 answers BadValue (2) "Unknown type name alias: minKey" for the types it cannot store (minKey,
   * maxKey, decimal, symbol, undefined, javascript). A value it cannot store is never an `_id` there, so the
   * alias is dropped (true: ask again without it). Only an alias the failed query named (`sent`) counts, so every
   * retry names fewer and a server that keeps refusing still fails. Scans of several partitions run at once and
   * share what was learnt: a query sent before another scan dropped the alias is refused for it too, and retried.
   */
  private rejectAlias(err: unknown, sent: ReadonlySet<string>): boolean {
    const alias = /Unknown type name alias: (\w+)/.exec(String((err as Error)?.message))?.[1];
    // Number(): with promoteValues off (EXACT_BSON) the error's code arrives as an Int32.
    if (Number((err as { code?: unknown })?.code) !== 2 || !alias || !sent.has(alias)) return false;
    this.rejectedAliases.add(alias);
    return true;
  }

  bulkWrite(ns: Namespace, ops: WriteOperation[], ordered: boolean, options: BulkWriteOptions = {}): Promise<BulkWriteOutcome> {
    return this.run(`bulkWrite ${ns.db}.${ns.coll}`, async () => {
      if (ops.length === 0) return { inserted: 0, upserted: 0, matched: 0, modified: 0, deleted: 0 };
      try {
        return await this.driverBulkWrite(ns, ops, ordered, options);
      } catch (err) {
        if (!isStatementTooLargeForBulk(err)) throw err;
        // Nothing was sent: the driver refuses while building the batches (see isStatementTooLargeForBulk).
        return this.oneByOne(ns, ops, ordered, options);
      }
    });
  }

  /** Write options every path sends (see driverBulkWrite). */
  private static writeOptions(options: BulkWriteOptions) {
    return { bypassDocumentValidation: options.bypassDocumentValidation === true, ignoreUndefined: false } as const;
  }

  /**
   * A bulk holding a statement of 16 MiB or more (a document near the limit, or a replacement of one: the statement
   * adds {q, upsert, multi}), sent as single-statement commands: the statement then travels inside the command
   * body, which the driver does not size-check and mongod accepts up to BSONObjMaxInternalSize = 16 MiB + 16 KiB
   * (src/mongo/bson/util/builder.h; a larger body fails BSONObjectTooLarge 10334), while the document itself is held
   * to 16 MiB (insert.cpp fixDocumentForInsert, update_stage 17419, upsert_stage 17420). Same order as the bulk:
   * ordered as given, stopping at the first error; unordered as the driver groups it (inserts, updates, deletes),
   * every statement tried. Errors come back as from a bulk: the first one, with `writeErrors` and `outcome`.
   */
  private async oneByOne(ns: Namespace, ops: WriteOperation[], ordered: boolean, options: BulkWriteOptions): Promise<BulkWriteOutcome> {
    const collection = this.collection(ns);
    const write = MongoClusterPort.writeOptions(options);
    const outcome: BulkWriteOutcome = { inserted: 0, upserted: 0, matched: 0, modified: 0, deleted: 0 };
    const kind = (op: WriteOperation): number => ("insertOne" in op ? 0 : "deleteOne" in op ? 2 : 1);
    const order = ops.map((op, index) => ({ op, index }));
    if (!ordered) order.sort((a, b) => kind(a.op) - kind(b.op) || a.index - b.index);
    const writeErrors: Array<{ index: number; code: number; errmsg: string }> = [];
    let firstError: Error | undefined;
    for (const { op, index } of order) {
      try {
        if ("insertOne" in op) {
          await collection.insertOne(op.insertOne.document, { ...write, forceServerObjectId: true });
          outcome.inserted++;
          continue;
        }
        if ("deleteOne" in op) {
          outcome.deleted += (await collection.deleteOne(op.deleteOne.filter)).deletedCount;
          continue;
        }
        const r =
          "replaceOne" in op
            ? await collection.replaceOne(op.replaceOne.filter, op.replaceOne.replacement, { ...write, upsert: op.replaceOne.upsert === true })
            : await collection.updateOne(op.updateOne.filter, op.updateOne.update, { ...write, upsert: op.updateOne.upsert === true });
        outcome.matched += r.matchedCount;
        outcome.modified += r.modifiedCount;
        outcome.upserted += r.upsertedCount;
      } catch (err) {
        const e = err as Error & { code?: number };
        writeErrors.push({ index, code: Number(e.code ?? 0), errmsg: e.message });
        firstError ??= e;
        if (ordered) break;
      }
    }
    if (firstError) throw Object.assign(firstError, { writeErrors, outcome });
    return outcome;
  }

  private async driverBulkWrite(ns: Namespace, ops: WriteOperation[], ordered: boolean, options: BulkWriteOptions): Promise<BulkWriteOutcome> {
    try {
      // bypassDocumentValidation is sent only when asked: mongod then requires the bypassDocumentValidation
      // action. forceServerObjectId: the driver otherwise replaces an `_id` that is null (`== null`) with a new
      // ObjectId, in the caller's document — a source document with `_id: null` would arrive as a different one.
      const result = await this.collection(ns).bulkWrite(ops as never, {
        ordered,
        ...MongoClusterPort.writeOptions(options),
        forceServerObjectId: true,
      });
      return {
        inserted: result.insertedCount,
        upserted: result.upsertedCount,
        matched: result.matchedCount,
        modified: result.modifiedCount,
        deleted: result.deletedCount,
      };
    } catch (err) {
      const partial = (err as { result?: { insertedCount: number; upsertedCount: number; matchedCount: number; modifiedCount: number; deletedCount: number } }).result;
      if (partial && typeof partial.insertedCount === "number") {
        Object.assign(err as object, {
          outcome: {
            inserted: partial.insertedCount,
            upserted: partial.upsertedCount,
            matched: partial.matchedCount,
            modified: partial.modifiedCount,
            deleted: partial.deletedCount,
          },
        });
      }
      throw err;
    }
  }

  findById(ns: Namespace, id: unknown): Promise<Document | null> {
    return this.run(`findById ${ns.db}.${ns.coll}`, () => this.collection(ns).findOne({ _id: id as never }, { ...EXACT_BSON }));
  }

  // ---- change history ----------------------------------------------------------------------------------

  clusterTime(): Promise<Timestamp | undefined> {
    return this.run("clusterTime", async () => {
      const session = this.client.startSession();
      try {
        await this.client.db("admin").command({ ping: 1 }, { session });
        if (session.operationTime) return session.operationTime;
      } finally {
        await session.endSession();
      }
      const hello = await this.client.db("admin").command({ hello: 1 });
      const ts = hello.lastWrite?.opTime?.ts;
      return ts instanceof Timestamp ? ts : undefined;
    });
  }

  watch(start: ChangeStreamStart): Promise<ChangeCursor> {
    return this.run("watch", async () => {
      const info = await this.serverInfo();
      if (info.topology === "standalone") {
        throw new MongoServerError({ message: "The $changeStream stage is only supported on replica sets", code: 40573, codeName: "Location40573" });
      }
      const options: ChangeStreamOptions = {
        ...EXACT_BSON,
        fullDocument: "updateLookup",
        readPreference: PRIMARY,
        // Set again before every read (MongoChangeCursor.awaitAtMost); this is the await of an automatic resume's first getMore.
        maxAwaitTimeMS: 250,
        // DDL beyond drop/rename/dropDatabase (create, createIndexes, modify, …) is only shown on request.
        showExpandedEvents: Number(info.version.split(".")[0]) >= 6,
      };
      if (start.resumeAfter) options.resumeAfter = start.resumeAfter;
      else if (start.startAtOperationTime) options.startAtOperationTime = start.startAtOperationTime;
      // Our own checkpoint database is never replayed.
      const pipeline: Document[] = [{ $match: { "ns.db": { $ne: CHECKPOINT_DATABASE } } }];
      if (start.omitUpdateDescription) pipeline.push({ $project: { updateDescription: 0 } });
      // Must be the last stage (jstests/change_streams/split_large_event.js: 7182802 otherwise).
      if (start.splitLargeEvents && splitsLargeChangeEvents(info.version)) pipeline.push({ $changeStreamSplitLargeEvent: {} });
      const stream = this.client.watch(pipeline, options);
      const cursor = new MongoChangeCursor(stream, this.description);
      // Open the stream now, so an out-of-window start fails here rather than at the first batch.
      await cursor.prime();
      return cursor;
    });
  }

  oplogWindow(): Promise<OplogWindow | undefined> {
    return this.run("oplogWindow", async () => {
      const info = await this.serverInfo();
      if (info.topology !== "replicaSet") return undefined;
      const oplog = this.client.db("local").collection("oplog.rs");
      const [first] = await oplog.find({}, { sort: { $natural: 1 }, limit: 1, projection: { ts: 1 } }).toArray();
      const [last] = await oplog.find({}, { sort: { $natural: -1 }, limit: 1, projection: { ts: 1 } }).toArray();
      if (!first || !last) return undefined;
      const firstTs = first.ts as Timestamp;
      const lastTs = last.ts as Timestamp;
      return { first: firstTs, last: lastTs, seconds: (lastTs.high >>> 0) - (firstTs.high >>> 0) };
    });
  }

  // ---- write blocking and users ------------------------------------------------------------------------

  setUserWriteBlocking(enabled: boolean): Promise<void> {
    return this.run("setUserWriteBlockMode", async () => {
      await this.client.db("admin").command({ setUserWriteBlockMode: 1, global: enabled });
      this.lastWriteBlockingSet = enabled;
    });
  }

  userWriteBlocking(): Promise<boolean> {
    return this.run("userWriteBlocking", async () => {
      // serverStatus().repl.userWriteBlockMode: 1 = disabled, 2 = enabled (0 = unknown). Absent on mongos.
      const status = await this.client.db("admin").command({ serverStatus: 1, repl: 1 });
      const mode = status.repl?.userWriteBlockMode;
      if (typeof mode === "number" && mode !== 0) return mode === 2;
      return this.lastWriteBlockingSet ?? false;
    });
  }

  listUsers(options: { showPrivileges?: boolean } = {}): Promise<UserInfo[]> {
    return this.run("listUsers", async () => {
      const result = await this.client.db("admin").command({ usersInfo: { forAllDBs: true } });
      const users: UserInfo[] = ((result.users as Document[] | undefined) ?? []).map((u) => ({
        user: String(u.user),
        db: String(u.db),
        roles: ((u.roles as Document[] | undefined) ?? []).map((r) => ({ role: String(r.role), db: String(r.db) })),
      }));
      if (!options.showPrivileges) return users;
      // usersInfo refuses showPrivileges together with forAllDBs: ask per user (its own database).
      for (const u of users) {
        const one = await this.client.db(u.db).command({ usersInfo: { user: u.user, db: u.db }, showPrivileges: true });
        const info = ((one.users as Document[] | undefined) ?? [])[0];
        u.privileges = ((info?.inheritedPrivileges as Document[] | undefined) ?? []).map((p) => ({
          resource: { ...(p.resource as Document) },
          actions: [...(p.actions as string[])],
        }));
      }
      return users;
    });
  }

  setUserRoles(user: string, db: string, roles: Array<{ role: string; db: string }>): Promise<void> {
    return this.run(`setUserRoles ${user}@${db}`, async () => {
      await this.client.db(db).command({ updateUser: user, roles });
    });
  }

  userCacheInvalidationSeconds(): Promise<number | undefined> {
    return this.run("userCacheInvalidationSeconds", async () => {
      if ((await this.serverInfo()).topology !== "sharded") return undefined;
      try {
        const answer = await this.client.db("admin").command({ getParameter: 1, userCacheInvalidationIntervalSecs: 1 });
        const value = answer.userCacheInvalidationIntervalSecs;
        return typeof value === "number" ? value : undefined;
      } catch {
        // Not allowed to read it (getParameter is a clusterMonitor action): the caller assumes the default.
        return undefined;
      }
    });
  }

  // ---- checkpoints -------------------------------------------------------------------------------------

  checkpoints(migrationId: string): CheckpointStore {
    const collection = this.client.db(CHECKPOINT_DATABASE).collection<CheckpointRecord>(CHECKPOINT_COLLECTION, { readPreference: PRIMARY });
    const idOf = (key: string): string => `${migrationId}/${key}`;
    const strip = (value: Document): Document => {
      const { version: _ignored, ...rest } = value;
      return rest;
    };
    const run = <T>(what: string, body: () => Promise<T>): Promise<T> => this.run(`checkpoint ${what}`, body);
    return {
      get: (key) =>
        run("get", async () => {
          const doc = await collection.findOne({ _id: idOf(key) });
          return doc ? { ...(doc.value as Document), version: doc.version as number } : null;
        }),
      put: (key, value) =>
        run("put", async () => {
          await collection.updateOne(
            { _id: idOf(key) },
            { $set: { migrationId, key, value: strip(value) }, $inc: { version: 1 } },
            { upsert: true },
          );
        }),
      compareAndSet: (key, expectedVersion, value) =>
        run("compareAndSet", async () => {
          if (expectedVersion === null) {
            try {
              await collection.insertOne({ _id: idOf(key), migrationId, key, version: 1, value: strip(value) });
              return true;
            } catch (err) {
              if ((err as { code?: number }).code === 11000) return false;
              throw err;
            }
          }
          const result = await collection.updateOne(
            { _id: idOf(key), version: expectedVersion },
            { $set: { value: strip(value), version: expectedVersion + 1 } },
          );
          return result.matchedCount === 1;
        }),
      clear: () =>
        run("clear", async () => {
          await collection.deleteMany({ migrationId });
        }),
    };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** How a checkpoint is stored: one document per key, `version` bumped by every write. */
interface CheckpointRecord {
  _id: string;
  migrationId: string;
  key: string;
  version: number;
  value: Document;
}

/**
 * A change stream read in batches: nextBatch waits at most `maxWaitMs` for the first event.
 *
 * How long the server waits is the getMore's maxTimeMS, which the driver takes from the stream's
 * maxAwaitTimeMS (driver 7.x abstract_cursor.js `getMore`: `{...this.cursorOptions}`; get_more.js:
 * `getMoreCmd.maxTimeMS = options.maxAwaitTimeMS`). mongod holds an awaitData getMore until a result exists or
 * maxTimeMS passes (getmore_cmd.cpp; 1 s when maxTimeMS is absent, and 0 counts as absent). A fixed await would
 * make every read that must not wait (`nextBatch(0)`, and the getMore the driver issues right after an empty
 * initial aggregate) wait it out in full on a quiet stream. So the await is set before each read: what is left
 * of `maxWaitMs`, at least 1 ms. The driver exposes no per-read setter for change streams: the cursor's options
 * are reached through the stream's internal cursor (re-created on every automatic resume, hence set each
 * time); tests/cluster/change-stream-wire.test.ts runs the real driver against a wire-protocol stand-in and
 * fails if a driver upgrade moves them.
 */
class MongoChangeCursor implements ChangeCursor {
  private readonly pending: ChangeEvent[] = [];

  constructor(
    private readonly stream: ChangeStream,
    private readonly description: string,
  ) {}

  /** The await of the next getMore the driver sends, in ms (≥ 1: mongod reads 0 as "the default 1 s"). */
  private awaitAtMost(ms: number): void {
    const cursor = (this.stream as unknown as { cursor?: { cursorOptions?: { maxAwaitTimeMS?: number } } }).cursor;
    if (cursor?.cursorOptions) cursor.cursorOptions.maxAwaitTimeMS = Math.max(1, Math.ceil(ms));
  }

  /**
   * Runs the initial aggregate (tryNext opens the cursor) and keeps whatever event it returned. Nothing waits:
   * after an empty first batch the driver sends a getMore at once, which is told to return at once too.
   */
  async prime(): Promise<void> {
    try {
      this.awaitAtMost(1);
      const first = await this.stream.tryNext();
      if (first) this.pending.push(first as unknown as ChangeEvent);
    } catch (err) {
      await this.stream.close().catch(() => undefined);
      throw translateDriverError(err, `${this.description}: change stream`);
    }
  }

  async nextBatch(maxWaitMs: number): Promise<ChangeEvent[]> {
    const events = this.pending.splice(0);
    const deadline = Date.now() + Math.max(0, maxWaitMs);
    try {
      for (;;) {
        // Drain what the driver already holds without another round trip.
        if (events.length > 0 && this.stream.bufferedCount() === 0) break;
        // Events in hand: take only what the server has now. None yet: wait for the rest of maxWaitMs.
        this.awaitAtMost(events.length > 0 ? 1 : deadline - Date.now());
        const next = await this.stream.tryNext();
        if (next) {
          events.push(next as unknown as ChangeEvent);
          if (events.length >= 1000) break;
          continue;
        }
        if (events.length > 0 || Date.now() >= deadline) break;
      }
    } catch (err) {
      throw translateDriverError(err, `${this.description}: change stream`);
    }
    return events;
  }

  resumeToken(): ResumeToken | undefined {
    // Events handed out ahead of this call (`pending`) are not yet consumed: resume before them.
    if (this.pending.length > 0) return undefined;
    return (this.stream.resumeToken as ResumeToken | null) ?? undefined;
  }

  async close(): Promise<void> {
    await this.stream.close();
  }
}
