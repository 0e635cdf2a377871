// AtlasMigration: the Atlas side of a migration (project, cluster, access list, users) plus the Migration
// resource that moves the data. `pulumi up` creates the Atlas side and starts the sync; a PR that flips
// `migration.cutover` to true previews as `~ update Migration [diff: ~cutover]` and, once merged, finalizes.
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";
import { Migration, MigrationArgs } from "../provider/migration";
import { AccessListEntry, createAccessList } from "./accessList";
import { createDatabaseUsers, DatabaseUserArgs, migrationUserArgs } from "./databaseUsers";
import { connectionStringWithUser, NewClusterArgs, TargetCluster } from "./targetCluster";

export interface AtlasMigrationArgs {
  /** An existing Atlas project… */
  projectId?: pulumi.Input<string>;
  /** …or a new one. */
  project?: { orgId: pulumi.Input<string>; name: pulumi.Input<string> };
  /** The deployment to migrate from: `{ uri }` (a secret) or a Cloud Manager cluster for atlas-push. */
  source: MigrationArgs["source"];
  /** A cluster to create, or an existing one. */
  target: { cluster: NewClusterArgs } | { existingClusterName: pulumi.Input<string>; tier?: string };
  /** Project IP access list entries (the app servers, the migration host). */
  accessList?: AccessListEntry[];
  /** The application's database users on the target. */
  databaseUsers?: DatabaseUserArgs[];
  /**
   * The user the builtin and mongosync engines write to the target with (created with readWriteAnyDatabase,
   * scoped to the target cluster). Not needed for atlas-push, where Atlas moves the data itself.
   */
  migrationUser?: { username: pulumi.Input<string>; password: pulumi.Input<string> };
  /** Engine, cutover, namespaces and the other Migration options. `cutover` is a plain boolean here. */
  migration?: Omit<MigrationArgs, "source" | "target" | "cutover"> & { cutover?: boolean };
}

export class AtlasMigration extends pulumi.ComponentResource {
  readonly projectId: pulumi.Output<string>;
  readonly clusterName: pulumi.Output<string>;
  /** The target's SRV connection string, what the application switches to (a secret). */
  readonly connectionString: pulumi.Output<string>;
  readonly migration: Migration;
  readonly migrationId: pulumi.Output<string>;
  /** PENDING, COPYING, SYNCING, READY_FOR_CUTOVER, CUTTING_OVER, COMPLETE or FAILED. */
  readonly phase: pulumi.Output<string>;
  readonly lagSeconds: pulumi.Output<number | null>;
  readonly cutoverCompletedAt: pulumi.Output<string | null>;
  readonly verification: pulumi.Output<any>;
  readonly warnings: pulumi.Output<string[]>;
  readonly progress: pulumi.Output<any>;
  /** Atlas link token for Cloud Manager (atlas-push with createLinkToken). Secret. */
  readonly linkToken: pulumi.Output<string | null>;

  constructor(name: string, args: AtlasMigrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas-migration:index:AtlasMigration", name, {}, opts);
    if ((args.projectId === undefined) === (args.project === undefined)) {
      throw new Error(`${name}: give exactly one of projectId (an existing Atlas project) or project { orgId, name } (a new one)`);
    }
    const child = { parent: this };

    const projectId: pulumi.Output<string> = args.project
      ? new mongodbatlas.Project(`${name}-project`, { orgId: args.project.orgId, name: args.project.name }, child).id
      : pulumi.output(args.projectId!);

    const target = new TargetCluster(
      `${name}-target`,
      "cluster" in args.target
        ? { projectId, cluster: args.target.cluster }
        : { projectId, existingClusterName: args.target.existingClusterName, existingClusterTier: args.target.tier },
      child,
    );

    const cutover = args.migration?.cutover ?? false;
    const access = createAccessList(name, projectId, args.accessList ?? [], cutover, this);
    const users = createDatabaseUsers(name, projectId, args.databaseUsers ?? [], this);
    const migrationUser = args.migrationUser
      ? createDatabaseUsers(
          `${name}-migration`,
          projectId,
          [migrationUserArgs(args.migrationUser.username, args.migrationUser.password, target.clusterName)],
          this,
        )
      : [];

    const targetUri = args.migrationUser
      ? connectionStringWithUser(target.standardSrv, args.migrationUser.username, args.migrationUser.password)
      : undefined;

    this.migration = new Migration(
      `${name}-migration`,
      {
        ...args.migration,
        cutover,
        source: args.source,
        target: {
          uri: targetUri,
          atlas: { projectId, clusterName: target.clusterName, tier: target.tier },
        },
      },
      // The sync starts only once the target can be reached and written.
      { parent: this, dependsOn: [target, ...access, ...users, ...migrationUser] },
    );

    this.projectId = projectId;
    this.clusterName = target.clusterName;
    this.connectionString = pulumi.secret(target.standardSrv);
    this.migrationId = this.migration.migrationId;
    this.phase = this.migration.phase;
    this.lagSeconds = this.migration.lagSeconds;
    this.cutoverCompletedAt = this.migration.cutoverCompletedAt;
    this.verification = this.migration.verification;
    this.warnings = this.migration.warnings;
    this.progress = this.migration.progress;
    this.linkToken = pulumi.secret(this.migration.linkToken);
    this.registerOutputs({
      projectId: this.projectId,
      clusterName: this.clusterName,
      connectionString: this.connectionString,
      migrationId: this.migrationId,
      phase: this.phase,
      lagSeconds: this.lagSeconds,
      cutoverCompletedAt: this.cutoverCompletedAt,
    });
  }
}
