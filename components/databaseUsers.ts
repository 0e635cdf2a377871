// Database users on the target project: the application's users, and the user the migration writes with.
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";
import { childName, legacyAlias } from "./names";
import type { RoleRef } from "./migrationRole";

export interface DatabaseUserArgs {
  username: pulumi.Input<string>;
  /** Stored as a Pulumi secret. */
  password: pulumi.Input<string>;
  roles: pulumi.Input<RoleRef>[];
  /** Defaults to "admin", where Atlas keeps SCRAM users. */
  authDatabaseName?: pulumi.Input<string>;
  /** Restrict the user to these clusters (names). The user is created after the target cluster exists. */
  clusters?: pulumi.Input<string>[];
  /**
   * The stable part of the user's Pulumi name. Defaults to the username when it is a plain string; give one
   * when the username is computed, so that adding or removing other users never renames this one.
   */
  key?: string;
}

export function userKey(user: DatabaseUserArgs): string | undefined {
  if (user.key !== undefined) return user.key;
  return typeof user.username === "string" ? user.username : undefined;
}

/** Each username once (Atlas's key is authDatabaseName + username); thrown in the component user's terms. */
export function checkDatabaseUsers(name: string, users: DatabaseUserArgs[]): void {
  const seen = new Map<string, number>();
  users.forEach((user, i) => {
    const key = userKey(user);
    if (key === undefined) return;
    const before = seen.get(key);
    if (before !== undefined) throw new Error(`${name}: databaseUsers[${before}] and databaseUsers[${i}] are both "${key}"; declare each user once`);
    seen.set(key, i);
  });
}

export function createDatabaseUser(
  resourceName: string,
  projectId: pulumi.Input<string>,
  user: DatabaseUserArgs,
  opts: pulumi.CustomResourceOptions,
): mongodbatlas.DatabaseUser {
  return new mongodbatlas.DatabaseUser(
    resourceName,
    {
      projectId,
      username: user.username,
      password: pulumi.secret(user.password),
      authDatabaseName: user.authDatabaseName ?? "admin",
      roles: user.roles,
      scopes: user.clusters?.map((clusterName) => ({ name: clusterName, type: "CLUSTER" })),
    },
    opts,
  );
}

/**
 * The application's users, named by username. `cluster` is the target: a user scoped to a cluster by its
 * literal name would otherwise be created before the cluster exists, and Atlas refuses a scope naming a
 * cluster it does not know.
 */
export function createDatabaseUsers(
  name: string,
  projectId: pulumi.Input<string>,
  users: DatabaseUserArgs[],
  base: pulumi.CustomResourceOptions,
  cluster: pulumi.Resource,
): mongodbatlas.DatabaseUser[] {
  checkDatabaseUsers(name, users);
  return users.map((user, i) => {
    const key = userKey(user);
    const opts: pulumi.CustomResourceOptions = {
      ...base,
      dependsOn: user.clusters && user.clusters.length > 0 ? [cluster] : [],
      ...(key === undefined ? {} : { aliases: [legacyAlias(`${name}-user-${i}`)] }),
    };
    return createDatabaseUser(key === undefined ? `${name}-user-${i}` : childName(name, "user", key), projectId, user, opts);
  });
}
