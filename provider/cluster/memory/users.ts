// Users and built-in roles, just enough to be real: a user whose roles only read cannot write, a user
// made read-only by `setUserRoles` loses write access on its open connections at once (as MongoDB's user
// cache invalidation does), and privileges are reported in connectionStatus's shape.

import type { Privilege } from "../port";

export interface Role {
  role: string;
  db: string;
}

const READ_ACTIONS = ["find", "listCollections", "listIndexes", "changeStream", "collStats", "dbStats", "dbHash"];
const WRITE_ACTIONS = ["insert", "update", "remove", "createCollection", "createIndex", "dropCollection", "dropIndex", "renameCollectionSameDB", "collMod", "dropDatabase"];
const CLUSTER_ADMIN_ACTIONS = ["setUserWriteBlockMode", "viewUser", "grantRole", "revokeRole", "listDatabases", "serverStatus", "replSetGetStatus"];

/** What the default MemoryCluster connection may do: everything `root` may, plus changeStream on the cluster. */
export const ROOT_PRIVILEGES: Privilege[] = [
  { resource: { db: "", collection: "" }, actions: [...READ_ACTIONS, ...WRITE_ACTIONS] },
  { resource: { cluster: true }, actions: [...CLUSTER_ADMIN_ACTIONS, "changeStream"] },
];

/** Actions that let a caller write while user write blocking is on (MongoDB grants these to `restore`/`__system`). */
export const BYPASS_WRITE_BLOCKING = "bypassWriteBlockingMode";

function anyDb(actions: string[]): Privilege {
  return { resource: { db: "", collection: "" }, actions };
}

function oneDb(db: string, actions: string[]): Privilege {
  return { resource: { db, collection: "" }, actions };
}

/** The privileges a set of built-in roles grants. Unknown roles grant nothing. */
export function privilegesForRoles(roles: Role[]): Privilege[] {
  const privileges: Privilege[] = [];
  for (const { role, db } of roles) {
    switch (role) {
      case "read":
        privileges.push(oneDb(db, READ_ACTIONS));
        break;
      case "readWrite":
      case "dbOwner":
        privileges.push(oneDb(db, [...READ_ACTIONS, ...WRITE_ACTIONS]));
        break;
      case "readAnyDatabase":
        privileges.push(anyDb(READ_ACTIONS));
        break;
      case "readWriteAnyDatabase":
        privileges.push(anyDb([...READ_ACTIONS, ...WRITE_ACTIONS]));
        break;
      case "root":
        privileges.push(...ROOT_PRIVILEGES);
        break;
      case "restore":
      case "__system":
        privileges.push(...ROOT_PRIVILEGES, { resource: { cluster: true }, actions: [BYPASS_WRITE_BLOCKING] });
        break;
      case "clusterMonitor":
        privileges.push({ resource: { cluster: true }, actions: ["serverStatus", "replSetGetStatus", "listDatabases"] });
        break;
    }
  }
  return privileges;
}

/** True when the privileges allow `action` on the namespace (or on the cluster when `db` is undefined). */
export function allows(privileges: Privilege[], action: string, db?: string, collection?: string): boolean {
  return privileges.some((p) => {
    if (!p.actions.includes(action) && !p.actions.includes("anyAction")) return false;
    const r = p.resource;
    if (r.anyResource) return true;
    if (db === undefined) return r.cluster === true;
    if (r.cluster) return false;
    const dbOk = r.db === "" || r.db === db;
    const collOk = r.collection === "" || r.collection === undefined || r.collection === collection;
    return dbOk && collOk;
  });
}
