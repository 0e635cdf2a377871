// A small subset of the driver's Db and Collection API over MemoryCluster, with the driver's signatures, so
// tests seed and check data the way they would against a real server:
//
//   const orders = cluster.db("shop").collection("orders");
//   await orders.insertOne({ _id: 1, total: 5 });
//   await orders.updateOne({ _id: 1 }, { $inc: { total: 1 } });
//   const all = await orders.find({}).toArray();
//
// Supported: insertOne, insertMany, updateOne/updateMany ($set $unset $inc $setOnInsert, upsert),
// replaceOne (upsert), deleteOne/deleteMany, find(filter, { sort, limit, projection-free }).toArray(),
// findOne, countDocuments, createIndex, drop, rename; Db: collection, createCollection, dropDatabase.
// Filters: see query.ts. Results are in `_id` order unless `sort` says otherwise. Reads promote values like
// the driver does by default (Int32/Double → number); pass `{ promoteValues: false }` to see exact types.
// Every write goes through the change log, write blocking and the connection's permissions.

import type {
  BSON,
  DeleteResult,
  Document,
  Filter,
  InsertManyResult,
  InsertOneResult,
  OptionalUnlessRequiredId,
  UpdateFilter,
  UpdateResult,
  WithId,
} from "mongodb";
import { compareBson, fromBson, toBson } from "../../provider/cluster/bson-order";
import type { CollectionInfo, Namespace } from "../../provider/cluster/port";
import { serverError } from "./errors";
import type { ClusterState } from "./state";

/** What a Db/Collection handle needs from its connection. */
export interface CollectionBackend {
  state: ClusterState;
  requireRead(ns: Namespace): void;
  requireWrite(ns: Namespace, action: string): void;
  assertOpen(): void;
}

type ReadOptions = Pick<BSON.DeserializeOptions, "promoteValues" | "promoteLongs" | "promoteBuffers" | "bsonRegExp">;

export interface MemoryFindOptions extends ReadOptions {
  sort?: Document;
  limit?: number;
  skip?: number;
}

function readOptions(options: ReadOptions | undefined): BSON.DeserializeOptions {
  // The driver's defaults: numbers promoted, Long promoted when it fits, Binary kept, regex as RegExp.
  return {
    promoteValues: options?.promoteValues ?? true,
    promoteLongs: options?.promoteLongs ?? true,
    promoteBuffers: options?.promoteBuffers ?? false,
    bsonRegExp: options?.bsonRegExp ?? false,
  };
}

function fieldValue(doc: Document, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object") return null;
    current = (current as Document)[part];
  }
  return current ?? null;
}

/** The result of `find()`: enough of the driver's FindCursor to chain sort/limit/skip and read. */
export class MemoryFindCursor<T> implements AsyncIterable<T> {
  constructor(private readonly load: (options: MemoryFindOptions) => T[], private options: MemoryFindOptions) {}

  sort(sort: Document): this {
    this.options = { ...this.options, sort };
    return this;
  }

  limit(limit: number): this {
    this.options = { ...this.options, limit };
    return this;
  }

  skip(skip: number): this {
    this.options = { ...this.options, skip };
    return this;
  }

  async toArray(): Promise<T[]> {
    return this.load(this.options);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (const doc of this.load(this.options)) yield doc;
  }
}

export class MemoryCollection<TSchema extends Document = Document> {
  readonly collectionName: string;
  readonly dbName: string;
  private readonly ns: Namespace;

  constructor(db: string, name: string, private readonly backend: CollectionBackend) {
    this.dbName = db;
    this.collectionName = name;
    this.ns = { db, coll: name };
  }

  get namespace(): string {
    return `${this.dbName}.${this.collectionName}`;
  }

  private write<T>(action: string, body: (state: ClusterState) => T): Promise<T> {
    return Promise.resolve().then(() => {
      this.backend.assertOpen();
      this.backend.requireWrite(this.ns, action);
      return body(this.backend.state);
    });
  }

  private load(filter: Document, options: MemoryFindOptions): Array<WithId<TSchema>> {
    this.backend.assertOpen();
    this.backend.requireRead(this.ns);
    let docs = this.backend.state.find(this.ns, filter).map(({ doc }) => doc);
    if (options.sort) {
      const fields = Object.entries(options.sort);
      docs = [...docs].sort((a, b) => {
        for (const [field, direction] of fields) {
          const c = compareBson(fieldValue(a, field), fieldValue(b, field));
          if (c !== 0) return Number(direction) < 0 ? -c : c;
        }
        return 0;
      });
    }
    const skip = options.skip ?? 0;
    const end = options.limit ? skip + options.limit : undefined;
    const promotion = readOptions(options);
    return docs.slice(skip, end).map((doc) => fromBson(toBson(doc), promotion) as WithId<TSchema>);
  }

  async insertOne(doc: OptionalUnlessRequiredId<TSchema>): Promise<InsertOneResult<TSchema>> {
    const id = await this.write("insert", (state) => state.insert(this.ns, doc as Document));
    // The driver adds the generated _id to the caller's document; so do we.
    if ((doc as Document)._id === undefined) (doc as Document)._id = id;
    return { acknowledged: true, insertedId: id as InsertOneResult<TSchema>["insertedId"] };
  }

  async insertMany(
    docs: ReadonlyArray<OptionalUnlessRequiredId<TSchema>>,
    // forceServerObjectId (driver: BulkWriteOptions/InsertManyOptions, "Force server to assign _id values instead of
    // driver"): the server adds an ObjectId only where `_id` is absent, which is what MemoryCluster always does;
    // it never replaces a present `_id: null` (the driver's own `== null` check is what the option turns off).
    options: { ordered?: boolean; forceServerObjectId?: boolean } = {},
  ): Promise<InsertManyResult<TSchema>> {
    const ordered = options.ordered ?? true;
    const insertedIds: Record<number, unknown> = {};
    let firstError: Error | undefined;
    const writeErrors: Array<{ index: number; code?: number; errmsg: string }> = [];
    for (let index = 0; index < docs.length; index++) {
      try {
        const result = await this.insertOne(docs[index]);
        insertedIds[index] = result.insertedId;
      } catch (err) {
        firstError ??= err as Error;
        writeErrors.push({ index, code: (err as { code?: number }).code, errmsg: (err as Error).message });
        if (ordered) break;
      }
    }
    const insertedCount = Object.keys(insertedIds).length;
    if (firstError) throw Object.assign(firstError, { writeErrors, insertedIds, insertedCount });
    return { acknowledged: true, insertedCount, insertedIds: insertedIds as InsertManyResult<TSchema>["insertedIds"] };
  }

  private updateResult(r: { matched: number; modified: number; upsertedId?: unknown }): UpdateResult<TSchema> {
    return {
      acknowledged: true,
      matchedCount: r.matched,
      modifiedCount: r.modified,
      upsertedCount: r.upsertedId === undefined ? 0 : 1,
      // The server reports the upserted _id; the driver promotes it like any read value.
      upsertedId: (r.upsertedId === undefined ? null : fromBson(toBson({ v: r.upsertedId }), readOptions(undefined)).v) as UpdateResult<TSchema>["upsertedId"],
    };
  }

  async updateOne(filter: Filter<TSchema>, update: UpdateFilter<TSchema>, options: { upsert?: boolean } = {}): Promise<UpdateResult<TSchema>> {
    const r = await this.write("update", (state) => state.update(this.ns, filter as Document, update as Document, options.upsert ?? false, false));
    return this.updateResult(r);
  }

  async updateMany(filter: Filter<TSchema>, update: UpdateFilter<TSchema>, options: { upsert?: boolean } = {}): Promise<UpdateResult<TSchema>> {
    const r = await this.write("update", (state) => state.update(this.ns, filter as Document, update as Document, options.upsert ?? false, true));
    return this.updateResult(r);
  }

  async replaceOne(filter: Filter<TSchema>, replacement: Document, options: { upsert?: boolean } = {}): Promise<UpdateResult<TSchema>> {
    const r = await this.write("update", (state) => state.replace(this.ns, filter as Document, replacement, options.upsert ?? false));
    return this.updateResult(r);
  }

  async deleteOne(filter: Filter<TSchema> = {}): Promise<DeleteResult> {
    const deletedCount = await this.write("remove", (state) => state.delete(this.ns, filter as Document, false));
    return { acknowledged: true, deletedCount };
  }

  async deleteMany(filter: Filter<TSchema> = {}): Promise<DeleteResult> {
    const deletedCount = await this.write("remove", (state) => state.delete(this.ns, filter as Document, true));
    return { acknowledged: true, deletedCount };
  }

  find(filter: Filter<TSchema> = {}, options: MemoryFindOptions = {}): MemoryFindCursor<WithId<TSchema>> {
    return new MemoryFindCursor((o) => this.load(filter as Document, o), options);
  }

  async findOne(filter: Filter<TSchema> = {}, options: MemoryFindOptions = {}): Promise<WithId<TSchema> | null> {
    return this.load(filter as Document, { ...options, limit: 1 })[0] ?? null;
  }

  async countDocuments(filter: Filter<TSchema> = {}): Promise<number> {
    return this.load(filter as Document, {}).length;
  }

  /** Creates an index; returns its name (generated like the server's, e.g. `a_1_b_-1`). */
  async createIndex(keys: Document, options: Document & { name?: string } = {}): Promise<string> {
    const { name: given, ...rest } = options;
    const name = given ?? Object.entries(keys).map(([k, v]) => `${k}_${v}`).join("_");
    await this.write("createIndex", (state) => state.createIndexes(this.ns, [{ name, key: keys, options: rest }]));
    return name;
  }

  async dropIndex(name: string): Promise<void> {
    await this.write("dropIndex", (state) => state.dropIndex(this.ns, name));
  }

  async drop(): Promise<boolean> {
    return this.write("dropCollection", (state) => state.dropCollection(this.ns));
  }

  /**
   * The one aggregation MemoryCluster runs: an optional `$match` then `$out` (a collection name, or
   * `{ db, coll }` on 7.0+ — docs: $out "Starting in MongoDB 7.0 … output to a different database"). Writes
   * through a temporary collection as mongod does (see ClusterState.out). Returns no documents, like `$out`.
   */
  aggregate(pipeline: Document[]): { toArray(): Promise<Document[]> } {
    const run = async (): Promise<Document[]> => {
      const last = pipeline[pipeline.length - 1]?.$out as string | { db: string; coll: string } | undefined;
      const match = pipeline.length === 2 ? (pipeline[0].$match as Document | undefined) : pipeline.length === 1 ? {} : undefined;
      if (last === undefined || match === undefined) {
        throw serverError(2, "BadValue", "MemoryCluster runs only the aggregation [{ $match }?, { $out }]");
      }
      const target = typeof last === "string" ? { db: this.dbName, coll: last } : { db: last.db, coll: last.coll };
      if (target.db !== this.dbName && this.backend.state.major < 7) {
        // mongod before 7.0 rejects the `{ db, coll }` form; MemoryCluster refuses it too (its own message).
        throw serverError(2, "BadValue", "$out to a different database needs MongoDB 7.0 or later");
      }
      this.backend.assertOpen();
      this.backend.requireRead(this.ns);
      this.backend.requireWrite(target, "insert");
      this.backend.requireWrite(target, "remove");
      this.backend.state.out(this.ns, match, target);
      return [];
    };
    return { toArray: run };
  }

  /** Renames within the same database (as the driver's Collection.rename does). */
  async rename(newName: string, options: { dropTarget?: boolean } = {}): Promise<MemoryCollection<TSchema>> {
    await this.write("renameCollectionSameDB", (state) =>
      state.renameCollection(this.ns, { db: this.dbName, coll: newName }, options.dropTarget ?? false),
    );
    return new MemoryCollection<TSchema>(this.dbName, newName, this.backend);
  }
}

export class MemoryDb {
  constructor(readonly databaseName: string, private readonly backend: CollectionBackend) {}

  collection<TSchema extends Document = Document>(name: string): MemoryCollection<TSchema> {
    if (!name || name.includes("$")) throw serverError(73, "InvalidNamespace", `Invalid collection name: ${name}`);
    return new MemoryCollection<TSchema>(this.databaseName, name, this.backend);
  }

  /** Creates a collection (options as the driver's: validator, collation, capped, size, max, clusteredIndex,
   *  timeseries) or a view (`{ viewOn, pipeline }`). */
  async createCollection<TSchema extends Document = Document>(name: string, options: Document = {}): Promise<MemoryCollection<TSchema>> {
    const kind: CollectionInfo["kind"] = options.viewOn ? "view" : options.timeseries ? "timeseries" : "collection";
    const ns = { db: this.databaseName, coll: name };
    this.backend.assertOpen();
    this.backend.requireWrite(ns, "createCollection");
    const existing = this.backend.state.collection(ns);
    if (existing) throw serverError(48, "NamespaceExists", `Collection ${this.databaseName}.${name} already exists.`);
    this.backend.state.createCollection({ db: this.databaseName, name, kind, options, indexes: [] });
    return this.collection<TSchema>(name);
  }

  async dropDatabase(): Promise<boolean> {
    this.backend.assertOpen();
    this.backend.requireWrite({ db: this.databaseName, coll: "" }, "dropDatabase");
    this.backend.state.dropDatabase(this.databaseName);
    return true;
  }

  /** Names of this database's collections and views. */
  async collectionNames(): Promise<string[]> {
    return [...(this.backend.state.dbs.get(this.databaseName)?.keys() ?? [])].sort();
  }
}
