// Database users on the target project: the application's users, and the user the migration writes with.
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";

export interface DatabaseUserArgs {
  username: pulumi.Input<string>;
  /** Stored as a Pulumi secret. */
  password: pulumi.Input<string>;
  roles: pulumi.Input<{ roleName: pulumi.Input<string>; databaseName: pulumi.Input<string>; collectionName?: pulumi.Input<string> }>[];
  /** Defaults to "admin", where Atlas keeps SCRAM users. */
  authDatabaseName?: pulumi.Input<string>;
  /** Restrict the user to these clusters (names). */
  clusters?: pulumi.Input<string>[];
}

export function createDatabaseUsers(
  name: string,
  projectId: pulumi.Input<string>,
  users: DatabaseUserArgs[],
  parent: pulumi.Resource,
): mongodbatlas.DatabaseUser[] {
  return users.map(
    (user, i) =>
      new mongodbatlas.DatabaseUser(
        `${name}-user-${i}`,
        {
          projectId,
          username: user.username,
          password: pulumi.secret(user.password),
          authDatabaseName: user.authDatabaseName ?? "admin",
          roles: user.roles,
          scopes: user.clusters?.map((clusterName) => ({ name: clusterName, type: "CLUSTER" })),
        },
        { parent },
      ),
  );
}

/** The user the migration engine writes with: readWriteAnyDatabase, scoped to the target cluster. */
export function migrationUserArgs(
  username: pulumi.Input<string>,
  password: pulumi.Input<string>,
  clusterName: pulumi.Input<string>,
): DatabaseUserArgs {
  return {
    username,
    password,
    roles: [{ roleName: "readWriteAnyDatabase", databaseName: "admin" }],
    clusters: [clusterName],
  };
}
