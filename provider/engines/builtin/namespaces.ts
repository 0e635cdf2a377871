// Which namespaces the built-in engine carries. Pure: no I/O, so it is tested on its own.
//
// Patterns are `db.coll` (one collection) or `db.*` (every collection of a database). An empty include list
// means "every user namespace". Exclude wins over include. The engine's own checkpoint database and MongoDB's
// internal databases are never carried, whatever the patterns say.
import { CHECKPOINT_DATABASE } from "../../cluster/port";
import type { NamespaceFilter } from "../engine";

const INTERNAL_DATABASES = new Set(["admin", "config", "local", CHECKPOINT_DATABASE]);

export interface NamespaceMatcher {
  /** True when the collection `db.coll` is migrated. */
  includes(db: string, coll: string): boolean;
  /** True when at least one collection of `db` may be migrated (used for dropDatabase events). */
  mayIncludeDatabase(db: string): boolean;
}

interface Pattern {
  db: string;
  /** undefined = every collection of the database. */
  coll?: string;
}

/** Parses `db.coll` / `db.*`. The collection part may itself contain dots (`db.a.b`). */
export function parsePattern(pattern: string): Pattern {
  const dot = pattern.indexOf(".");
  if (dot <= 0 || dot === pattern.length - 1) {
    throw new Error(`namespace pattern "${pattern}" must look like "db.collection" or "db.*"`);
  }
  const db = pattern.slice(0, dot);
  const coll = pattern.slice(dot + 1);
  return coll === "*" ? { db } : { db, coll };
}

function matches(p: Pattern, db: string, coll: string): boolean {
  return p.db === db && (p.coll === undefined || p.coll === coll);
}

/** System collections (`system.views`, `system.profile`, `system.js`, …) are server-managed, never copied. */
export function isSystemCollection(coll: string): boolean {
  return coll.startsWith("system.");
}

/**
 * The temporary namespaces mongod writes through: `tmpXXXXX.renameCollection` for a rename across databases
 * (src/mongo/db/catalog/rename_collection.cpp; jstests/change_streams/rename_across_dbs.js) and
 * `tmp.agg_out.<UUID>` for `$out` (src/mongo/db/pipeline/document_source_out.cpp). They are never carried: the
 * rename that ends them brings the final collection, which replay then re-reads whole from the source.
 */
export function isTemporaryCollection(coll: string): boolean {
  return /^tmp[a-zA-Z0-9]{5}\.renameCollection$/.test(coll) || coll.startsWith("tmp.agg_out.");
}

export function namespaceMatcher(filter: NamespaceFilter): NamespaceMatcher {
  const include = filter.include.map(parsePattern);
  const exclude = filter.exclude.map(parsePattern);
  return {
    includes(db, coll) {
      if (INTERNAL_DATABASES.has(db) || isSystemCollection(coll) || isTemporaryCollection(coll)) return false;
      if (include.length > 0 && !include.some((p) => matches(p, db, coll))) return false;
      return !exclude.some((p) => matches(p, db, coll));
    },
    mayIncludeDatabase(db) {
      if (INTERNAL_DATABASES.has(db)) return false;
      if (exclude.some((p) => p.db === db && p.coll === undefined)) return false;
      return include.length === 0 || include.some((p) => p.db === db);
    },
  };
}

export function nsString(ns: { db: string; coll: string }): string {
  return `${ns.db}.${ns.coll}`;
}
