// One collection's documents and indexes in MemoryCluster.
//
// Documents are kept as BSON bytes (so nothing a caller holds can change them, and every type survives),
// keyed by a canonical `_id` key (Int32 1, Long 1 and Double 1.0 are one `_id`, as in MongoDB). `_id` order
// is kept lazily: appends mark the order dirty and the next ordered read sorts once.

import { UUID, type Binary, type Document } from "mongodb";
import { bsonKey, compareBson, fromBson } from "../../provider/cluster/bson-order";
import type { CollectionKind, IndexSpec } from "../../provider/cluster/port";
import { duplicateKeyError } from "./errors";
import { matches } from "./query";

export interface StoredDocument {
  id: unknown;
  key: string;
  bytes: Buffer;
  removed: boolean;
}

interface IndexState extends IndexSpec {
  /** For unique indexes other than `_id_`: index key → the `_id` key of the document holding it. */
  uniqueKeys?: Map<string, string>;
}

/**
 * The `_id` order of a collection with a default collation. A collection's collation is the default of its
 * indexes, the `_id` index included, and of its queries and sorts (docs: reference/collation, "Collation and
 * Index Use"; db.createCollection `collation`), so mongod returns string `_id`s in the locale's order: under
 * { locale: "en" } "a" < "B" < "c", while binary (simple) order is "B" < "a" < "c". Strings are compared with
 * ICU through Intl.Collator (Node ships full ICU), mapping strength 1/2/3 to sensitivity base/accent/variant,
 * caseFirst and numericOrdering as given. Only top-level string `_id`s are collated here; other values (and
 * strings inside documents and arrays) keep binary order.
 */
function collatedComparator(collation: Document | undefined): ((a: unknown, b: unknown) => number) | undefined {
  if (!collation || collation.locale === undefined || collation.locale === "simple") return undefined;
  const strength = Number(collation.strength ?? 3);
  const collator = new Intl.Collator(String(collation.locale).replace("_", "-"), {
    sensitivity: strength <= 1 ? "base" : strength === 2 ? "accent" : "variant",
    caseFirst: collation.caseFirst === "upper" ? "upper" : collation.caseFirst === "lower" ? "lower" : "false",
    numeric: collation.numericOrdering === true,
    usage: "sort",
  });
  return (a, b) => (typeof a === "string" && typeof b === "string" ? collator.compare(a, b) || compareBson(a, b) : compareBson(a, b));
}

function fieldValue(doc: Document, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split(".")) {
    if (current === null || typeof current !== "object" || !(part in (current as Document))) return undefined;
    current = (current as Document)[part];
  }
  return current;
}

export class CollectionData {
  readonly byKey = new Map<string, StoredDocument>();
  private order: StoredDocument[] = [];
  private orderDirty = false;
  private bytesTotal = 0;
  readonly indexes: IndexState[];
  /** How `_id`s are ordered: binary BSON order, or the collection's default collation. */
  private readonly compareIds: (a: unknown, b: unknown) => number;

  /**
   * The collection's UUID (listCollections `info.uuid`, the oplog's `ui`): new for every collection created, kept
   * by a rename within a database; a view has none. Change events carry it as `collectionUUID` (see change-log.ts).
   */
  readonly uuid: Binary | undefined;

  constructor(
    public kind: CollectionKind,
    public options: Document,
  ) {
    this.uuid = kind === "view" ? undefined : new UUID().toBinary();
    this.indexes = kind === "view" ? [] : [{ name: "_id_", key: { _id: 1 }, options: {} }];
    this.compareIds = collatedComparator(options.collation as Document | undefined) ?? compareBson;
  }

  get count(): number {
    return this.byKey.size;
  }

  get sizeBytes(): number {
    return this.bytesTotal;
  }

  /** Live documents in ascending `_id` order (the collection's collation order, when it has one). */
  ordered(): StoredDocument[] {
    if (this.orderDirty) {
      this.order = this.order.filter((d) => !d.removed);
      this.order.sort((a, b) => this.compareIds(a.id, b.id));
      this.orderDirty = false;
    }
    return this.order;
  }

  /** Index of the first live document whose `_id` is > (or >= when inclusive) `bound`. */
  lowerBound(bound: unknown, inclusive: boolean): number {
    const docs = this.ordered();
    let lo = 0;
    let hi = docs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = this.compareIds(docs[mid].id, bound);
      if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  hasSecondaryUniqueIndexes(): boolean {
    return this.indexes.some((i) => i.uniqueKeys !== undefined);
  }

  get(id: unknown): StoredDocument | undefined {
    return this.byKey.get(bsonKey(id));
  }

  private uniqueKeyOf(index: IndexState, doc: Document): { key: string; value: Document } | undefined {
    const fields = Object.keys(index.key);
    const values = fields.map((f) => fieldValue(doc, f));
    if (index.options.sparse && values.every((v) => v === undefined)) return undefined;
    const filter = index.options.partialFilterExpression as Document | undefined;
    if (filter && !matches(doc, filter)) return undefined;
    const value = Object.fromEntries(fields.map((f, i) => [f, values[i] ?? null]));
    return { key: values.map((v) => bsonKey(v ?? null)).join("|"), value };
  }

  /**
   * Throws the driver's duplicate-key error when `doc` would collide in a unique index with a document other
   * than the one whose `_id` key is `selfKey` (the document being replaced).
   */
  checkUnique(ns: string, doc: Document, selfKey: string | undefined): void {
    const key = bsonKey(doc._id);
    if (key !== selfKey && this.byKey.has(key)) {
      throw duplicateKeyError(ns, "_id_", { _id: doc._id }, `{ _id: ${JSON.stringify(String(doc._id))} }`);
    }
    for (const index of this.indexes) {
      if (!index.uniqueKeys) continue;
      const k = this.uniqueKeyOf(index, doc);
      if (!k) continue;
      const holder = index.uniqueKeys.get(k.key);
      if (holder !== undefined && holder !== selfKey) {
        throw duplicateKeyError(ns, index.name, k.value, JSON.stringify(k.value));
      }
    }
  }

  private indexDocument(stored: StoredDocument, doc: Document): void {
    for (const index of this.indexes) {
      if (!index.uniqueKeys) continue;
      const k = this.uniqueKeyOf(index, doc);
      if (k) index.uniqueKeys.set(k.key, stored.key);
    }
  }

  private unindexDocument(stored: StoredDocument): void {
    if (!this.indexes.some((i) => i.uniqueKeys)) return;
    const doc = fromBson(stored.bytes);
    for (const index of this.indexes) {
      if (!index.uniqueKeys) continue;
      const k = this.uniqueKeyOf(index, doc);
      if (k && index.uniqueKeys.get(k.key) === stored.key) index.uniqueKeys.delete(k.key);
    }
  }

  /** Stores a new document (uniqueness already checked). */
  insert(doc: Document, bytes: Buffer): StoredDocument {
    const stored: StoredDocument = { id: doc._id, key: bsonKey(doc._id), bytes, removed: false };
    this.byKey.set(stored.key, stored);
    this.order.push(stored);
    this.orderDirty = true;
    this.bytesTotal += bytes.length;
    this.indexDocument(stored, doc);
    return stored;
  }

  /** Replaces a stored document's content (same `_id`; uniqueness already checked). */
  replace(stored: StoredDocument, doc: Document, bytes: Buffer): void {
    this.unindexDocument(stored);
    this.bytesTotal += bytes.length - stored.bytes.length;
    stored.bytes = bytes;
    this.indexDocument(stored, doc);
  }

  remove(stored: StoredDocument): void {
    this.unindexDocument(stored);
    stored.removed = true;
    this.byKey.delete(stored.key);
    this.bytesTotal -= stored.bytes.length;
    this.orderDirty = true;
  }

  /** Adds an index; for a unique one, fails with a duplicate-key error when existing documents collide. */
  addIndex(ns: string, spec: IndexSpec): void {
    const index: IndexState = { name: spec.name, key: { ...spec.key }, options: { ...spec.options } };
    if (spec.options.unique) {
      index.uniqueKeys = new Map();
      for (const stored of this.byKey.values()) {
        const doc = fromBson(stored.bytes);
        const k = this.uniqueKeyOf(index, doc);
        if (!k) continue;
        if (index.uniqueKeys.has(k.key)) throw duplicateKeyError(ns, index.name, k.value, JSON.stringify(k.value));
        index.uniqueKeys.set(k.key, stored.key);
      }
    }
    this.indexes.push(index);
  }

  removeIndex(name: string): boolean {
    const at = this.indexes.findIndex((i) => i.name === name);
    if (at < 0) return false;
    this.indexes.splice(at, 1);
    return true;
  }
}
