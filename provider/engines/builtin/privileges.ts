// Exactly what each side's user must be allowed to do for a builtin run, in one place: preflight checks the
// connected users against it (connectionStatus showPrivileges), and the AtlasMigration component builds the
// target's Atlas custom role from TARGET_ACTIONS.
//
// Roles named in `grantedBy` come from the server's role table, mongodb/mongo
// src/mongo/db/auth/builtin_roles.yml (docs: https://www.mongodb.com/docs/manual/reference/built-in-roles/).
// Facts from it this list relies on:
//   - readWrite / readWriteAnyDatabase have neither bypassDocumentValidation, collMod nor dropDatabase;
//     dbAdmin (dbAdminAnyDatabase) and restore have bypassDocumentValidation and collMod.
//   - setUserWriteBlockMode is granted by backup and restore only — NOT by clusterManager or clusterAdmin's
//     other parts; bypassWriteBlockingMode by restore (and so root) only.
//   - readAnyDatabase covers every database except local and config: reading the oplog (local.oplog.rs)
//     needs clusterMonitor (read on local) or backup.
import type { Privilege } from "../../cluster/port";
import type { CaptureMode, ResolvedWriteBlocking } from "./state";

/** Where an action is needed. */
export type ActionResource =
  /** Every database the migration carries (and, on the target, the checkpoint database). */
  | "migratedDatabases"
  /** Every non-system collection of every database (a whole-deployment change stream needs this). */
  | "anyDatabase"
  /** The cluster resource. */
  | "cluster"
  /** local.oplog.rs. */
  | "oplog";

/** What decides whether a run needs an action. */
export interface RunShape {
  captureMode: CaptureMode;
  writeBlocking?: ResolvedWriteBlocking;
  /** Some migrated collection has a TTL index (its real expiry is set at cutover with collMod). */
  hasTtlIndexes: boolean;
}

export interface RequiredAction {
  action: string;
  on: ActionResource;
  /** What the run does with it. */
  why: string;
  /** The least-privileged built-in role(s) that grant it (builtin_roles.yml), for the preflight advice. */
  grantedBy: string;
  /** Needed only by some runs; absent = every run. */
  when?: (run: RunShape) => boolean;
}

const changeStreamMode = (r: RunShape) => r.captureMode === "changeStream";

/** What the SOURCE user must be allowed to do. The engine never writes migrated data on the source. */
export const SOURCE_ACTIONS: readonly RequiredAction[] = [
  { action: "find", on: "migratedDatabases", why: "the copy reads every document; replay re-reads changed ones", grantedBy: "readAnyDatabase (or read on each migrated database)" },
  { action: "listCollections", on: "migratedDatabases", why: "the copy lists collections, views and their options", grantedBy: "readAnyDatabase (or read on each migrated database)" },
  { action: "listIndexes", on: "migratedDatabases", why: "indexes are re-created on the target", grantedBy: "readAnyDatabase (or read on each migrated database)" },
  { action: "collStats", on: "migratedDatabases", why: "collection sizes plan the copy ($collStats)", grantedBy: "readAnyDatabase (or read on each migrated database)" },
  { action: "changeStream", on: "anyDatabase", why: "changes are captured by one whole-deployment change stream", grantedBy: "readAnyDatabase", when: changeStreamMode },
  { action: "find", on: "anyDatabase", why: "a whole-deployment change stream also needs find on every database", grantedBy: "readAnyDatabase", when: changeStreamMode },
  { action: "find", on: "oplog", why: "preflight compares the oplog window (local.oplog.rs) with the copy time", grantedBy: "clusterMonitor (or backup)", when: changeStreamMode },
  {
    action: "setUserWriteBlockMode",
    on: "cluster",
    why: "cutover blocks source writes with setUserWriteBlockMode",
    grantedBy: "backup (or restore); clusterManager does not grant it",
    when: (r) => r.writeBlocking === "setUserWriteBlockMode",
  },
  {
    action: "viewUser",
    on: "cluster",
    why: "preflight lists the users (usersInfo) that write blocking does not stop, or that readOnlyUsers names",
    grantedBy: "userAdminAnyDatabase (or a custom role with viewUser on the cluster)",
    when: (r) => r.writeBlocking === "setUserWriteBlockMode" || r.writeBlocking === "readOnlyUsers",
  },
  { action: "grantRole", on: "anyDatabase", why: "cutover makes the listed users read-only (updateUser)", grantedBy: "userAdminAnyDatabase", when: (r) => r.writeBlocking === "readOnlyUsers" },
  { action: "revokeRole", on: "anyDatabase", why: "cutover makes the listed users read-only (updateUser)", grantedBy: "userAdminAnyDatabase", when: (r) => r.writeBlocking === "readOnlyUsers" },
];

const READ_WRITE = "readWriteAnyDatabase (or readWrite on each migrated database and on __atlas_migration)";
const DB_ADMIN = "dbAdminAnyDatabase (or dbAdmin on each migrated database; restore also grants it)";

/** What the TARGET user must be allowed to do, on every migrated database and the checkpoint database. */
export const TARGET_ACTIONS: readonly RequiredAction[] = [
  { action: "find", on: "migratedDatabases", why: "verification and reconciliation read the copy; the checkpoint is read back", grantedBy: READ_WRITE },
  { action: "insert", on: "migratedDatabases", why: "the copy and replay write documents (upserts), and checkpoints", grantedBy: READ_WRITE },
  { action: "update", on: "migratedDatabases", why: "replay overwrites changed documents; checkpoints are updated", grantedBy: READ_WRITE },
  { action: "remove", on: "migratedDatabases", why: "replay applies deletes; the checkpoint is cleared after COMPLETE", grantedBy: READ_WRITE },
  {
    action: "bypassDocumentValidation",
    on: "migratedDatabases",
    why: "every copy and replay write bypasses validators, so documents are carried as stored even where the collection's validator would now reject them",
    grantedBy: DB_ADMIN,
  },
  { action: "createCollection", on: "migratedDatabases", why: "collections and views are created with their options", grantedBy: READ_WRITE },
  { action: "createIndex", on: "migratedDatabases", why: "indexes are built on the target", grantedBy: READ_WRITE },
  { action: "dropCollection", on: "migratedDatabases", why: "replay mirrors drops and cross-database renames", grantedBy: READ_WRITE },
  { action: "renameCollectionSameDB", on: "migratedDatabases", why: "replay mirrors renames", grantedBy: READ_WRITE },
  { action: "listCollections", on: "migratedDatabases", why: "the engine reads the target's catalog", grantedBy: READ_WRITE },
  { action: "listIndexes", on: "migratedDatabases", why: "the engine reads the target's indexes", grantedBy: READ_WRITE },
  { action: "collMod", on: "migratedDatabases", why: "cutover gives TTL indexes their real expireAfterSeconds", grantedBy: DB_ADMIN, when: (r) => r.hasTtlIndexes },
];

export interface MissingAction {
  action: string;
  /** e.g. "shop", "the cluster", "every database", "local.oplog.rs". */
  where: string;
  why: string;
  grantedBy: string;
}

function covers(p: Privilege, on: ActionResource, db?: string): boolean {
  const r = p.resource;
  if (r.anyResource) return true;
  const anyNormal = r.db === "" && r.collection === "";
  switch (on) {
    case "cluster":
      return r.cluster === true;
    case "anyDatabase":
      return anyNormal;
    case "oplog":
      // local is not a "normal" database: only a grant naming it counts.
      return r.db === "local" && (r.collection === "" || r.collection === "oplog.rs");
    case "migratedDatabases":
      if (r.cluster) return false;
      if (anyNormal) return db !== "local" && db !== "config";
      return r.db === db && r.collection === "";
  }
}

function holds(privileges: Privilege[], action: string, on: ActionResource, db?: string): boolean {
  return privileges.some((p) => (p.actions.includes(action) || p.actions.includes("anyAction")) && covers(p, on, db));
}

/** The actions in `required` this run needs and `privileges` do not grant, one entry per action and place. */
export function missingActions(
  privileges: Privilege[],
  required: readonly RequiredAction[],
  run: RunShape,
  databases: string[],
): MissingAction[] {
  const out: MissingAction[] = [];
  for (const need of required) {
    if (need.when && !need.when(run)) continue;
    if (need.on === "migratedDatabases") {
      const lacking = databases.filter((db) => !holds(privileges, need.action, "migratedDatabases", db));
      if (lacking.length > 0) out.push({ action: need.action, where: lacking.join(", "), why: need.why, grantedBy: need.grantedBy });
    } else if (!holds(privileges, need.action, need.on)) {
      const where = need.on === "cluster" ? "the cluster" : need.on === "oplog" ? "local.oplog.rs" : "every database";
      out.push({ action: need.action, where, why: need.why, grantedBy: need.grantedBy });
    }
  }
  return out;
}

/** True when the privileges let their holder write through setUserWriteBlockMode (mongod's check). */
export function bypassesWriteBlocking(privileges: Privilege[] | undefined): boolean {
  return (privileges ?? []).some(
    (p) =>
      (p.actions.includes("bypassWriteBlockingMode") || p.actions.includes("anyAction")) &&
      (p.resource.cluster === true || p.resource.anyResource === true),
  );
}
