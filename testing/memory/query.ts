// The small query and update language MemoryCluster understands, on documents holding exact BSON values.
//
// Filters: field equality (dotted paths; an array field matches when any element matches), the operators
// $eq $ne $gt $gte $lt $lte $in $nin $exists, and top-level $and / $or. Updates: $set, $unset, $inc,
// $setOnInsert, or a whole replacement document. Anything else is rejected with a clear error rather than
// silently misbehaving.

import { Double, Int32, Long, type Document } from "mongodb";
import { bsonEquals, compareBson, typeRank } from "../../provider/cluster/bson-order";
import { serverError } from "./errors";

const MISSING = Symbol("missing");

function isOperatorObject(value: unknown): value is Document {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  if ((value as { _bsontype?: unknown })._bsontype !== undefined || value instanceof Date || value instanceof RegExp) return false;
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => k.startsWith("$"));
}

function valueAtPath(doc: unknown, path: string[]): unknown {
  let current: unknown = doc;
  for (const part of path) {
    if (current === null || typeof current !== "object" || (current as { _bsontype?: unknown })._bsontype !== undefined) return MISSING;
    if (Array.isArray(current) && !/^\d+$/.test(part)) {
      // `a.b` over an array of subdocuments: collect each element's `b`.
      const values = current.map((el) => valueAtPath(el, [part])).filter((v) => v !== MISSING);
      return values.length === 0 ? MISSING : values;
    }
    if (!(part in (current as Document))) return MISSING;
    current = (current as Document)[part];
  }
  return current;
}

/** Values a field comparison considers: the value itself and, for arrays, each element. */
function candidates(value: unknown): unknown[] {
  if (value === MISSING) return [];
  return Array.isArray(value) ? [value, ...value] : [value];
}

function equalsCondition(value: unknown, expected: unknown): boolean {
  if (value === MISSING) return expected === null;
  return candidates(value).some((v) => bsonEquals(v, expected));
}

function compareCondition(value: unknown, bound: unknown, accept: (c: number) => boolean): boolean {
  return candidates(value).some((v) => typeRank(v) === typeRank(bound) && accept(compareBson(v, bound)));
}

function matchOperators(value: unknown, ops: Document): boolean {
  for (const [op, arg] of Object.entries(ops)) {
    let ok: boolean;
    switch (op) {
      case "$eq":
        ok = equalsCondition(value, arg);
        break;
      case "$ne":
        ok = !equalsCondition(value, arg);
        break;
      case "$gt":
        ok = compareCondition(value, arg, (c) => c > 0);
        break;
      case "$gte":
        ok = compareCondition(value, arg, (c) => c >= 0);
        break;
      case "$lt":
        ok = compareCondition(value, arg, (c) => c < 0);
        break;
      case "$lte":
        ok = compareCondition(value, arg, (c) => c <= 0);
        break;
      case "$in":
        ok = (arg as unknown[]).some((a) => equalsCondition(value, a));
        break;
      case "$nin":
        ok = !(arg as unknown[]).some((a) => equalsCondition(value, a));
        break;
      case "$exists":
        ok = (value !== MISSING) === Boolean(arg);
        break;
      default:
        throw serverError(2, "BadValue", `unknown operator: ${op} (MemoryCluster supports $eq $ne $gt $gte $lt $lte $in $nin $exists)`);
    }
    if (!ok) return false;
  }
  return true;
}

/** True when the document matches the filter. */
export function matches(doc: Document, filter: Document = {}): boolean {
  for (const [key, condition] of Object.entries(filter)) {
    if (key === "$and") {
      if (!(condition as Document[]).every((f) => matches(doc, f))) return false;
      continue;
    }
    if (key === "$or") {
      if (!(condition as Document[]).some((f) => matches(doc, f))) return false;
      continue;
    }
    if (key.startsWith("$")) throw serverError(2, "BadValue", `unknown top level operator: ${key}`);
    const value = valueAtPath(doc, key.split("."));
    const ok = isOperatorObject(condition) ? matchOperators(value, condition) : equalsCondition(value, condition);
    if (!ok) return false;
  }
  return true;
}

/** The `_id` a filter pins by equality (`{ _id: x }` or `{ _id: { $eq: x } }`), for upserts and fast lookups. */
export function idFromFilter(filter: Document): { found: true; id: unknown } | { found: false } {
  if (!("_id" in filter)) return { found: false };
  const condition = filter._id;
  if (isOperatorObject(condition)) return "$eq" in condition ? { found: true, id: condition.$eq } : { found: false };
  return { found: true, id: condition };
}

/** Fields of an upsert's filter that seed the inserted document (plain equalities only). */
export function equalityFields(filter: Document): Document {
  const seed: Document = {};
  for (const [key, condition] of Object.entries(filter)) {
    if (key.startsWith("$") || key.includes(".")) continue;
    if (isOperatorObject(condition)) {
      if ("$eq" in condition) seed[key] = condition.$eq;
      continue;
    }
    seed[key] = condition;
  }
  return seed;
}

export function isUpdateDocument(update: Document): boolean {
  const keys = Object.keys(update);
  return keys.length > 0 && keys.every((k) => k.startsWith("$"));
}

export interface UpdateDescription {
  updatedFields: Document;
  removedFields: string[];
}

function parentOf(doc: Document, path: string[], create: boolean): Document | undefined {
  let current: Document = doc;
  for (const part of path.slice(0, -1)) {
    const next = current[part];
    if (next === undefined) {
      if (!create) return undefined;
      current[part] = {};
    } else if (next === null || typeof next !== "object" || (next as { _bsontype?: unknown })._bsontype !== undefined) {
      throw serverError(28, "PathNotViable", `Cannot create field '${path[path.length - 1]}' in element {${part}: ...}`);
    }
    current = current[part] as Document;
  }
  return current;
}

/** Adds two numbers the way the server does: int+int stays int (or becomes long), anything+double is double. */
function addNumbers(current: unknown, delta: unknown): unknown {
  const kind = (v: unknown): string =>
    typeof v === "number" ? (Number.isInteger(v) && Math.abs(v) < 2 ** 31 ? "Int32" : "Double") : String((v as { _bsontype?: unknown })?._bsontype);
  const kc = current === undefined ? "Int32" : kind(current);
  const kd = kind(delta);
  if (kc === "Decimal128" || kd === "Decimal128") {
    throw serverError(2, "BadValue", "$inc on Decimal128 is not supported by MemoryCluster");
  }
  if (!["Int32", "Long", "Double"].includes(kc) || !["Int32", "Long", "Double"].includes(kd)) {
    throw serverError(14, "TypeMismatch", "Cannot apply $inc to a value of non-numeric type");
  }
  const num = (v: unknown): number => (typeof v === "number" ? v : Number((v as { valueOf(): number }).valueOf()));
  const big = (v: unknown): bigint => (typeof v === "number" ? BigInt(v) : BigInt(String(v)));
  if (kc === "Double" || kd === "Double") return new Double(num(current ?? 0) + num(delta));
  const sum = big(current ?? 0) + big(delta);
  if (kc === "Int32" && kd === "Int32" && sum >= -(2n ** 31n) && sum < 2n ** 31n) return new Int32(Number(sum));
  return Long.fromBigInt(sum);
}

/**
 * Applies an update document to `doc` in place. Returns what changed, in change-event form. `inserting`
 * enables $setOnInsert.
 */
export function applyUpdate(doc: Document, update: Document, inserting: boolean): UpdateDescription {
  const description: UpdateDescription = { updatedFields: {}, removedFields: [] };
  for (const [op, fields] of Object.entries(update)) {
    for (const [path, arg] of Object.entries(fields as Document)) {
      if (path === "_id" || path.startsWith("_id.")) {
        throw serverError(66, "ImmutableField", "Performing an update on the path '_id' would modify the immutable field '_id'");
      }
      const parts = path.split(".");
      const leaf = parts[parts.length - 1];
      switch (op) {
        case "$set":
          parentOf(doc, parts, true)![leaf] = arg;
          description.updatedFields[path] = arg;
          break;
        case "$setOnInsert":
          if (inserting) {
            parentOf(doc, parts, true)![leaf] = arg;
            description.updatedFields[path] = arg;
          }
          break;
        case "$unset": {
          const parent = parentOf(doc, parts, false);
          if (parent && leaf in parent) {
            delete parent[leaf];
            description.removedFields.push(path);
          }
          break;
        }
        case "$inc": {
          const parent = parentOf(doc, parts, true)!;
          parent[leaf] = addNumbers(parent[leaf], arg);
          description.updatedFields[path] = parent[leaf];
          break;
        }
        default:
          throw serverError(9, "FailedToParse", `Unknown modifier: ${op} (MemoryCluster supports $set $unset $inc $setOnInsert)`);
      }
    }
  }
  return description;
}
