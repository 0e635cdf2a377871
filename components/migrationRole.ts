// The one place that decides which Atlas roles the migration user gets, per engine (least privilege).
//
// - builtin writes every migrated collection with bypassDocumentValidation (documents that predate a
//   validator must still arrive), creates collections and indexes, replays DDL (drop, rename, collMod for TTL
//   and validators) and keeps its checkpoints in `__atlas_migration`. readWriteAnyDatabase has neither
//   bypassDocumentValidation nor collMod (MongoDB built-in roles:
//   https://www.mongodb.com/docs/manual/reference/built-in-roles/#mongodb-authrole-readWrite), so builtin gets a
//   custom role with exactly these actions. Custom roles work on M0 and Flex too ("changes to custom roles might
//   take up to 30 seconds to deploy in M0 Free clusters, Flex clusters": https://www.mongodb.com/docs/atlas/security-add-mongodb-roles/).
//   Action names are the Atlas custom-role actions (https://www.mongodb.com/docs/atlas/reference/custom-role-actions/).
//   !! This list must match the target privileges the builtin engine checks, in
//   !! provider/engines/builtin/privileges.ts (written separately; the two are wired together by the lead).
// - mongosync on an Atlas destination needs atlasAdmin and the bypassWriteBlockingMode action (mongosync
//   "User Permissions", Atlas clusters; summarized in /work/shared/reference/atlas-and-mongosync-apis.md §3.9).
//   bypassWriteBlockingMode is the custom-role action BYPASS_USER_WRITE_BLOCK on the cluster resource.
// - atlas-push needs no user of ours: Atlas live migration creates (and removes) its own.
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";
import type { EngineName } from "../provider/engines/engine";

export interface RoleRef {
  roleName: pulumi.Input<string>;
  databaseName: pulumi.Input<string>;
  collectionName?: pulumi.Input<string>;
}

/** Actions of the builtin engine on the target, on every non-system database ("anyDatabase" in Atlas). */
export const BUILTIN_TARGET_DATABASE_ACTIONS = [
  "FIND", // verification scans, checkpoint reads
  "INSERT",
  "UPDATE",
  "REMOVE",
  "BYPASS_DOCUMENT_VALIDATION", // copy and replay write documents that a validator would reject
  "CREATE_COLLECTION",
  "CREATE_INDEX",
  "DROP_COLLECTION", // replayed drop; checkpoint clear
  "DROP_DATABASE", // replayed dropDatabase
  "RENAME_COLLECTION_SAME_DB", // replayed rename
  "COLL_MOD", // TTL expiry restored at cutover, validators
  "LIST_COLLECTIONS",
  "LIST_INDEXES",
  "COLL_STATS",
  "DB_STATS",
] as const;

/** Actions on the cluster resource. */
export const BUILTIN_TARGET_CLUSTER_ACTIONS = ["LIST_DATABASES"] as const;

export const MONGOSYNC_CLUSTER_ACTIONS = ["BYPASS_USER_WRITE_BLOCK"] as const;

export interface MigrationRolePlan {
  /** Built-in roles granted directly. */
  builtInRoles: RoleRef[];
  /** A custom role to create in the project and grant (undefined: none needed). */
  customRole?: { actions: Array<{ action: string; resources: Array<{ cluster?: boolean; databaseName?: string; collectionName?: string }> }> };
}

/** What the migration user of `engine` needs on the target. Pure, for tests and the policy pack. */
export function migrationRolePlan(engine: EngineName): MigrationRolePlan {
  switch (engine) {
    case "builtin":
      return {
        builtInRoles: [],
        customRole: {
          actions: [
            ...BUILTIN_TARGET_DATABASE_ACTIONS.map((action) => ({ action, resources: [{ databaseName: "anyDatabase", collectionName: "" }] })),
            ...BUILTIN_TARGET_CLUSTER_ACTIONS.map((action) => ({ action, resources: [{ cluster: true }] })),
          ],
        },
      };
    case "mongosync":
      return {
        builtInRoles: [{ roleName: "atlasAdmin", databaseName: "admin" }],
        customRole: { actions: MONGOSYNC_CLUSTER_ACTIONS.map((action) => ({ action, resources: [{ cluster: true }] })) },
      };
    case "atlas-push":
      return { builtInRoles: [] };
  }
}

/** Atlas custom role names: letters, digits, `_` and `-` (the roleName pattern of the custom roles API). */
export function customRoleName(component: string, engine: EngineName): string {
  const base = `${component}-${engine}-migration`.replace(/[^A-Za-z0-9_-]/g, "-");
  return base.slice(0, 64);
}

/**
 * Creates the custom role (if the engine needs one) and returns the roles to grant the migration user.
 * The role is temporary like the user: it follows the user's lifetime and never inherits protect/retainOnDelete.
 */
export function createMigrationRole(
  component: string,
  engine: EngineName,
  projectId: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): { roles: RoleRef[]; role?: mongodbatlas.CustomDbRole } {
  const plan = migrationRolePlan(engine);
  if (!plan.customRole) return { roles: plan.builtInRoles };
  const roleName = customRoleName(component, engine);
  const role = new mongodbatlas.CustomDbRole(
    `${component}-migration-role`,
    { projectId, roleName, actions: plan.customRole.actions },
    opts,
  );
  return { roles: [...plan.builtInRoles, { roleName: role.roleName, databaseName: "admin" }], role };
}
