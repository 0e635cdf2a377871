// Source users the target will not have. Atlas live migration does not carry users (the mLab import wizard did);
// nor do we: each user the application may log in as must be declared in the program (AtlasMigration
// `databaseUsers`), with its password as a secret, since a password cannot be read from the source.
import type { UserInfo } from "../../cluster/port";
import type { PreflightFinding } from "../engine";

/**
 * Roles an Atlas database user can be given by name (Atlas docs, "Built-in Roles and Privileges":
 * https://www.mongodb.com/docs/atlas/mongodb-users-roles-and-privileges/). Other roles need a custom role.
 */
const ATLAS_BUILTIN_ROLES = new Set([
  "atlasAdmin",
  "readWriteAnyDatabase",
  "readAnyDatabase",
  "dbAdminAnyDatabase",
  "clusterMonitor",
  "backup",
  "enableSharding",
  "read",
  "readWrite",
  "dbAdmin",
]);

/** What a source role becomes on Atlas, in the words of a `databaseUsers` entry. */
export function atlasRoleFor(role: { role: string; db: string }): string {
  if (role.role === "root") return `{ roleName: "atlasAdmin", databaseName: "admin" } (root has no Atlas equivalent; atlasAdmin is the closest)`;
  if (ATLAS_BUILTIN_ROLES.has(role.role)) return `{ roleName: "${role.role}", databaseName: "${role.db}" }`;
  return `a custom role (mongodbatlas.CustomDbRole) granting what ${role.role}@${role.db} grants, then { roleName: "<that role>", databaseName: "admin" }`;
}

/**
 * One warning per source user that neither the program declares nor the migration itself connects as. System
 * users (`__system`, users of the `local` database) are never application users.
 */
export function undeclaredUserWarnings(users: UserInfo[], declared: string[], own: Array<{ user: string; db: string }>): PreflightFinding[] {
  // Atlas keeps SCRAM users in admin, so a source user app@shop is declared on the target as app@admin: match by name.
  const declaredNames = new Set(declared.map((ref) => ref.replace(/@[^@]*$/, "")));
  const ownRefs = new Set(own.map((u) => `${u.user}@${u.db}`));
  return users
    .filter((u) => u.user !== "__system" && u.db !== "local" && !declaredNames.has(u.user) && !ownRefs.has(`${u.user}@${u.db}`))
    .map((u) => ({
      code: "SOURCE_USER_NOT_DECLARED",
      message: `source user ${u.user}@${u.db} (roles: ${u.roles.map((r) => `${r.role}@${r.db}`).join(", ") || "none"}) will not exist on the target: Atlas migrations do not carry users`,
      action:
        `if the application logs in as ${u.user}, add it to databaseUsers: { username: "${u.user}", password: <a secret>, ` +
        `roles: [${u.roles.map(atlasRoleFor).join(", ")}] }` +
        (u.db === "admin" ? "" : ` (Atlas keeps SCRAM users in admin: the application's connection string then says authSource=admin instead of ${u.db})`),
    }));
}
