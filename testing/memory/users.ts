// Users and built-in roles, as strict as mongod: each role grants exactly the actions (of those MemoryCluster
// checks) that mongod's role table grants, on the same resources, and privileges are reported in
// connectionStatus's shape.
//
// Source of every role below: mongodb/mongo src/mongo/db/auth/builtin_roles.yml (the server's role table;
// docs: https://www.mongodb.com/docs/manual/reference/built-in-roles/). Resource shapes follow the
// `matchType`s there as connectionStatus reports them:
//   database         { db: "<db>", collection: "" }       any_normal  { db: "", collection: "" }
//   exact_namespace  { db: "<db>", collection: "<c>" }    cluster     { cluster: true }
//   any              { anyResource: true }
// `any_normal` matches every non-system collection of every database except local and config (built-in roles
// docs: readAnyDatabase "… on all databases except local and config").
//
// A user made read-only by `setUserRoles` loses write access on its open connections at once, as mongod's user
// cache invalidation does on a replica set (on mongos it takes up to userCacheInvalidationIntervalSecs; not
// modelled).

import type { Privilege } from "../../provider/cluster/port";

export interface Role {
  role: string;
  db: string;
}

/** builtin_roles.yml `readRoleActions`. */
const READ = ["changeStream", "collStats", "dbHash", "dbStats", "find", "killCursors", "listCollections", "listIndexes", "listSearchIndexes", "planCacheRead"];
/** builtin_roles.yml `readWriteRoleActions`: no collMod, no dropDatabase, no bypassDocumentValidation. */
const READ_WRITE = [
  ...READ,
  "convertToCapped",
  "createCollection",
  "createIndex",
  "dropCollection",
  "dropIndex",
  "insert",
  "remove",
  "renameCollectionSameDB",
  "update",
];
/** builtin_roles.yml `dbAdminRoleActions` (the ones that matter here). */
const DB_ADMIN = [
  "bypassDocumentValidation",
  "collMod",
  "collStats",
  "convertToCapped",
  "createCollection",
  "dbStats",
  "dropCollection",
  "dropDatabase",
  "dropIndex",
  "createIndex",
  "listCollections",
  "listIndexes",
  "planCacheRead",
  "reIndex",
  "renameCollectionSameDB",
  "validate",
];
/** builtin_roles.yml `userAdminRoleActions`. */
const USER_ADMIN = ["changeCustomData", "changePassword", "createUser", "createRole", "dropUser", "dropRole", "grantRole", "revokeRole", "setAuthenticationRestriction", "viewUser", "viewRole"];
/** builtin_roles.yml `restoreRoleWriteActions`. */
const RESTORE_WRITE = ["bypassDocumentValidation", "collMod", "convertToCapped", "createCollection", "createIndex", "dropCollection", "insert"];

/** Lets a caller write while user write blocking is on (restore grants it; root inherits it; __system has all). */
export const BYPASS_WRITE_BLOCKING = "bypassWriteBlockingMode";

const cluster = (actions: string[]): Privilege => ({ resource: { cluster: true }, actions });
const anyNormal = (actions: string[]): Privilege => ({ resource: { db: "", collection: "" }, actions });
const database = (db: string, actions: string[]): Privilege => ({ resource: { db, collection: "" }, actions });
const anyCollection = (collection: string, actions: string[]): Privilege => ({ resource: { db: "", collection }, actions });
const exact = (db: string, collection: string, actions: string[]): Privilege => ({ resource: { db, collection }, actions });

/** Each role's own privileges (roles it inherits are listed in INHERITS). `db` is the role's database. */
const ROLE_PRIVILEGES: Record<string, (db: string) => Privilege[]> = {
  read: (db) => [database(db, READ), exact(db, "system.js", READ)],
  readWrite: (db) => [database(db, READ_WRITE), exact(db, "system.js", READ_WRITE)],
  dbAdmin: (db) => [database(db, DB_ADMIN)],
  userAdmin: (db) => [database(db, USER_ADMIN)],
  dbOwner: () => [],
  readAnyDatabase: () => [anyNormal(READ), cluster(["listDatabases"]), anyCollection("system.js", READ)],
  readWriteAnyDatabase: () => [anyNormal(READ_WRITE), anyCollection("system.js", READ_WRITE)],
  userAdminAnyDatabase: () => [
    anyNormal([...USER_ADMIN, "listCachedAndActiveUsers"]),
    database("local", USER_ADMIN),
    database("config", USER_ADMIN),
    cluster(["listDatabases", "authSchemaUpgrade", "invalidateUserCache", "viewUser"]),
  ],
  dbAdminAnyDatabase: () => [cluster(["listDatabases", "applyOps"]), anyNormal(DB_ADMIN)],
  clusterMonitor: () => [
    cluster(["connPoolStats", "getCmdLineOpts", "getDefaultRWConcern", "getLog", "getParameter", "hostInfo", "listDatabases", "listSessions", "replSetGetConfig", "replSetGetStatus", "serverStatus", "top", "inprog"]),
    anyNormal(["collStats", "dbStats", "indexStats"]),
  ],
  // No setUserWriteBlockMode here: builtin_roles.yml grants it to backup and restore only.
  clusterManager: () => [
    cluster(["appendOplogNote", "applicationMessage", "replSetConfigure", "replSetGetConfig", "replSetGetStatus", "replSetStateChange", "resync", "addShard", "removeShard", "listSessions", "listShards", "flushRouterConfig", "setFeatureCompatibilityVersion"]),
    anyNormal(["splitChunk", "moveChunk", "enableSharding", "splitVector"]),
  ],
  hostManager: () => [cluster(["killop", "killAnyCursor", "setParameter", "shutdown", "fsync", "replSetResizeOplog"]), anyNormal(["killCursors"])],
  clusterAdmin: () => [anyNormal(["dropDatabase"])],
  __queryableBackup: () => [
    { resource: { anyResource: true }, actions: ["collStats", "listCollections", "listIndexes", "listSearchIndexes"] },
    anyNormal(["find"]),
    cluster(["getParameter", "listDatabases", "useUUID"]),
    database("config", ["find"]),
    database("local", ["find"]),
  ],
  backup: () => [cluster(["appendOplogNote", "serverStatus", "setUserWriteBlockMode"]), exact("config", "settings", ["insert", "update"])],
  restore: () => [
    cluster(["getParameter", "forceUUID", "useUUID", BYPASS_WRITE_BLOCKING, "setUserWriteBlockMode", "applyOps"]),
    database("local", RESTORE_WRITE),
    database("config", RESTORE_WRITE),
    { resource: { anyResource: true }, actions: ["listCollections"] },
    anyNormal([...RESTORE_WRITE, ...USER_ADMIN]),
    anyCollection("system.js", RESTORE_WRITE),
  ],
  root: () => [{ resource: { anyResource: true }, actions: ["validate"] }],
  // builtin_roles.yml: "__system has its privileges special cased" — every action on every resource.
  __system: () => [{ resource: { anyResource: true }, actions: ["anyAction"] }],
};

/** Roles each role inherits (builtin_roles.yml `roles:`), all on admin unless given. */
const INHERITS: Record<string, Array<string | Role>> = {
  dbOwner: ["readWrite", "dbAdmin", "userAdmin"],
  readWriteAnyDatabase: ["readAnyDatabase"],
  clusterMonitor: [{ role: "read", db: "config" }, { role: "read", db: "local" }],
  clusterManager: [{ role: "read", db: "config" }],
  clusterAdmin: ["clusterMonitor", "hostManager", "clusterManager"],
  backup: ["__queryableBackup"],
  root: ["clusterAdmin", "userAdminAnyDatabase", "dbAdminAnyDatabase", "readWriteAnyDatabase", "backup", "restore"],
};

/** Roles that builtin_roles.yml marks `adminOnly`: they grant nothing when defined on another database. */
const ADMIN_ONLY = new Set([
  "readAnyDatabase",
  "readWriteAnyDatabase",
  "userAdminAnyDatabase",
  "dbAdminAnyDatabase",
  "clusterMonitor",
  "clusterManager",
  "hostManager",
  "clusterAdmin",
  "__queryableBackup",
  "backup",
  "restore",
  "root",
  "__system",
]);

/** The privileges a set of built-in roles grants, inherited roles included. Unknown roles grant nothing. */
export function privilegesForRoles(roles: Role[]): Privilege[] {
  const out: Privilege[] = [];
  const seen = new Set<string>();
  const visit = (role: string, db: string): void => {
    const key = `${role}@${db}`;
    if (seen.has(key) || !ROLE_PRIVILEGES[role] || (ADMIN_ONLY.has(role) && db !== "admin")) return;
    seen.add(key);
    out.push(...ROLE_PRIVILEGES[role](db));
    for (const inherited of INHERITS[role] ?? []) {
      if (typeof inherited === "string") visit(inherited, ADMIN_ONLY.has(inherited) ? "admin" : db);
      else visit(inherited.role, inherited.db);
    }
  };
  for (const { role, db } of roles) visit(role, db);
  return out;
}

/** What the default MemoryCluster connection may do: the `root` role's privileges (bypassWriteBlockingMode too). */
export const ROOT_PRIVILEGES: Privilege[] = privilegesForRoles([{ role: "root", db: "admin" }]);

/** mongod's "normal" namespaces: not in local/config, not a system.* collection. */
function isNormal(db: string, collection: string | undefined): boolean {
  return db !== "local" && db !== "config" && !(collection ?? "").startsWith("system.");
}

/**
 * True when the privileges allow `action` on the namespace (`collection` "" = the database itself), or on the
 * cluster when `db` is undefined. Matching as mongod's resource patterns do (see the header).
 */
export function allows(privileges: Privilege[], action: string, db?: string, collection?: string): boolean {
  return privileges.some((p) => {
    if (!p.actions.includes(action) && !p.actions.includes("anyAction")) return false;
    const r = p.resource;
    if (r.anyResource) return true;
    if (db === undefined) return r.cluster === true;
    if (r.cluster) return false;
    const coll = collection ?? "";
    if (r.db === "" && r.collection === "") return isNormal(db, coll);
    if (r.db === "") return r.collection === coll;
    if (r.db !== db) return false;
    return r.collection === "" || r.collection === undefined ? !coll.startsWith("system.") : r.collection === coll;
  });
}
