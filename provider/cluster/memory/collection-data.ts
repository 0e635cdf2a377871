// One collection's documents and indexes in MemoryCluster.
//
// Documents are kept as BSON bytes (so nothing a caller holds can change them, and every type survives),
// keyed by a canonical `_id` key (Int32 1, Long 1 and Double 1.0 are one `_id`, as in MongoDB). `_id` order
// is kept lazily: appends mark the order dirty and the next ordered read sorts once.

import type { Document } from "mongodb";
import { bsonKey, compareBson, fromBson } from "../bson-order";
import type { CollectionKind, IndexSpec } from "../port";
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

  constructor(
    public kind: CollectionKind,
    public options: Document,
  ) {
    this.indexes = kind === "view" ? [] : [{ name: "_id_", key: { _id: 1 }, options: {} }];
  }

  get count(): number {
    return this.byKey.size;
  }

  get sizeBytes(): number {
    return this.bytesTotal;
  }

  /** Live documents in ascending `_id` order. */
  ordered(): StoredDocument[] {
    if (this.orderDirty) {
      this.order = this.order.filter((d) => !d.removed);
      this.order.sort((a, b) => compareBson(a.id, b.id));
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
      const c = compareBson(docs[mid].id, bound);
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
