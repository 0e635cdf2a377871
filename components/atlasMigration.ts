// AtlasMigration: the Atlas side of a migration (project, cluster, access list, users) plus the Migration
// resource that moves the data. `pulumi up` creates the Atlas side and starts the sync; a PR that flips
// `migration.cutover` to true previews as `~ update Migration [diff: ~cutover]` and, once merged, finalizes.
//
// Children and the options the user sets on the component (issue 7, B4):
// - the target cluster (and a project made here) keep the application's data: `deletionProtection` (default
//   on) retains them on `pulumi destroy` and turns on Atlas termination protection;
// - temporary access entries, the migration user and its role are never protected and never retained, so the
//   cutover `up` can delete them whatever `protect`/`retainOnDelete` the component has;
// - the Migration is never retained (destroy before COMPLETE must stop the sync); it does inherit `protect`.
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";
import { Migration, MigrationArgs, type MigrationAtlasCredentials } from "../provider/migration";
import type { EngineName } from "../provider/engines/engine";
import { AccessListEntry, createAccessList, TEMPORARY_OPTIONS } from "./accessList";
import { createDatabaseUser, createDatabaseUsers, DatabaseUserArgs } from "./databaseUsers";
import { createMigrationRole } from "./migrationRole";
import { legacyAlias } from "./names";
import { connectionStringWithUser, NewClusterArgs, TargetCluster } from "./targetCluster";

/** The Atlas cluster to migrate into: one to create, or one that exists. */
export type AtlasMigrationTarget = { cluster: NewClusterArgs } | { existingClusterName: pulumi.Input<string>; tier?: string };

/**
 * Atlas API credentials for the Migration (atlas-push calls the Atlas API), when they are neither in stack config
 * (`mongodbatlas:*`) nor on a `mongodbatlas.Provider` passed to the component (whose credentials the component
 * hands to the Migration itself). Also configure the component's Atlas resources when no provider is passed.
 * Stored in state as a secret.
 */
export type AtlasCredentialsArgs = MigrationAtlasCredentials;

export interface AtlasMigrationArgs {
  /** An existing Atlas project… */
  projectId?: pulumi.Input<string>;
  /** …or a new one. */
  project?: { orgId: pulumi.Input<string>; name: pulumi.Input<string> };
  /** The deployment to migrate from: `{ uri }` (a secret) or a Cloud Manager cluster for atlas-push. */
  source: MigrationArgs["source"];
  /** A cluster to create, or an existing one. */
  target: AtlasMigrationTarget;
  /** Project IP access list entries (the app servers, the migration host). */
  accessList?: AccessListEntry[];
  /** The application's database users on the target. */
  databaseUsers?: DatabaseUserArgs[];
  /**
   * The user the builtin and mongosync engines write to the target with, scoped to the target cluster, with
   * the roles its engine needs (builtin: a custom role with exactly its actions; mongosync: atlasAdmin).
   * Required for builtin. Not needed for atlas-push, where Atlas moves the data itself. Like Atlas live
   * migration's own user it is removed at the end of the cutover `pulumi up`; you may then drop it from the
   * program.
   */
  migrationUser?: { username: pulumi.Input<string>; password: pulumi.Input<string> };
  /** Engine, cutover, namespaces and the other Migration options. `cutover` is a plain boolean here. */
  migration?: Omit<MigrationArgs, "source" | "target" | "cutover" | "atlasCredentials" | "declaredBy" | "dropsAtCutover"> & { cutover?: boolean };
  /** Atlas credentials for the Migration (see AtlasCredentialsArgs); also used for the Atlas resources when no mongodbatlas provider is passed in the options. */
  atlasCredentials?: AtlasCredentialsArgs;
}

/** What `engine: "auto"` resolves to, when the program's literal values tell; undefined when they do not. */
export function engineOf(args: Pick<AtlasMigrationArgs, "source" | "target" | "migration">): EngineName | undefined {
  const requested = args.migration?.engine;
  if (pulumi.Output.isInstance(requested)) return undefined;
  if (requested !== undefined && requested !== "auto") return requested as EngineName;
  // The same order as the schema's resolveEngine (provider/schema.ts): M0/flex ⇒ builtin; Cloud Manager
  // source ⇒ atlas-push; mongosync URLs ⇒ mongosync; else builtin.
  const tier = "cluster" in args.target ? args.target.cluster.tier : args.target.tier;
  if (tier && ["M0", "M2", "M5", "FLEX"].includes(tier.toUpperCase())) return "builtin";
  const source = args.source as unknown;
  if (pulumi.Output.isInstance(source)) return undefined;
  if (source && typeof source === "object" && (source as { cloudManager?: unknown }).cloudManager !== undefined) return "atlas-push";
  const mongosync = args.migration?.mongosync as unknown;
  if (pulumi.Output.isInstance(mongosync)) return undefined;
  const urls = mongosync && typeof mongosync === "object" ? (mongosync as { urls?: unknown }).urls : undefined;
  if (pulumi.Output.isInstance(urls)) return undefined;
  if (Array.isArray(urls) && urls.length > 0) return "mongosync";
  return "builtin";
}

/**
 * The Atlas credentials of an explicit mongodbatlas provider, for the Migration (which cannot use the provider
 * itself). Readable because the Node SDK gives every registered input of a resource an output of the same name
 * (sdk/nodejs/runtime/rpc.ts transferProperties) and the engine answers a provider resource's registration with
 * its inputs as its outputs (pkg/resource/deploy/providers/registry.go, Registry.Create/Update). The provider
 * registers isMongodbgovCloud as JSON text ("true"). Undefined keys are left out.
 */
export function credentialsOfProvider(provider: pulumi.ProviderResource): pulumi.Output<MigrationAtlasCredentials> {
  const p = provider as unknown as Record<string, pulumi.Output<unknown> | undefined>;
  const keys = ["publicKey", "privateKey", "clientId", "clientSecret", "accessToken", "baseUrl", "isMongodbgovCloud"] as const;
  const field = (k: string) => (pulumi.Output.isInstance(p[k]) ? p[k] : pulumi.output(undefined));
  return pulumi.all(keys.map(field)).apply((values: unknown[]) => {
    const out: Record<string, unknown> = {};
    keys.forEach((k, i) => {
      let v: unknown = values[i];
      if (k === "isMongodbgovCloud" && typeof v === "string") v = v.trim() === "true";
      if (v !== undefined && v !== null && v !== "") out[k] = v;
    });
    return out as MigrationAtlasCredentials;
  });
}

export class AtlasMigration extends pulumi.ComponentResource {
  readonly projectId: pulumi.Output<string>;
  readonly clusterName: pulumi.Output<string>;
  /** The target's SRV connection string, what the application switches to (a secret). */
  readonly connectionString: pulumi.Output<string>;
  readonly migration: Migration;
  readonly migrationId: pulumi.Output<string>;
  /** PENDING, COPYING, SYNCING, READY_FOR_CUTOVER, CUTTING_OVER, COMPLETE or FAILED. */
  readonly phase: Migration["phase"];
  readonly lagSeconds: Migration["lagSeconds"];
  readonly cutoverCompletedAt: Migration["cutoverCompletedAt"];
  readonly verification: Migration["verification"];
  readonly warnings: Migration["warnings"];
  readonly progress: Migration["progress"];
  /** Atlas link token for Cloud Manager (atlas-push with createLinkToken). Secret. */
  readonly linkToken: pulumi.Output<string | null>;
  /** The engine the component planned the migration user for (undefined when only known at run time). */
  readonly plannedEngine: EngineName | undefined;

  constructor(name: string, args: AtlasMigrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("atlas-migration:index:AtlasMigration", name, {}, opts);
    if ((args.projectId === undefined) === (args.project === undefined)) {
      throw new Error(`${name}: give exactly one of projectId (an existing Atlas project) or project { orgId, name } (a new one)`);
    }
    const cutover = args.migration?.cutover ?? false;
    const engine = engineOf(args);
    this.plannedEngine = engine;
    if (engine === "builtin" && !args.migrationUser && !cutover) {
      // Said in the component's terms (the Migration's own message would speak of target.uri, which component
      // users never set).
      throw new Error(
        `${name}: the builtin engine writes into the Atlas cluster as a database user, and migrationUser is not set. ` +
          `Add migrationUser: { username: "migrator", password: config.requireSecret("migratorPassword") }; ` +
          "it gets the roles the engine needs, and you may remove it once the migration is COMPLETE",
      );
    }

    // Credentials given here also configure the Atlas resources, unless the user passed a provider.
    let providerOpts: pulumi.CustomResourceOptions = {};
    const explicitProvider = this.getProvider("mongodbatlas:index/project:Project");
    if (args.atlasCredentials && !explicitProvider) {
      const c = args.atlasCredentials;
      const provider = new mongodbatlas.Provider(
        `${name}-atlas`,
        {
          publicKey: c.publicKey,
          privateKey: c.privateKey && pulumi.secret(c.privateKey),
          clientId: c.clientId,
          clientSecret: c.clientSecret && pulumi.secret(c.clientSecret),
          accessToken: c.accessToken && pulumi.secret(c.accessToken),
          baseUrl: c.baseUrl,
          isMongodbgovCloud: c.isMongodbgovCloud,
        },
        { parent: this },
      );
      providerOpts = { provider };
    }
    const child = { parent: this, ...providerOpts };
    const deletionProtection = "cluster" in args.target ? args.target.cluster.deletionProtection ?? true : false;

    const projectId: pulumi.Output<string> = args.project
      ? new mongodbatlas.Project(
          `${name}-project`,
          { orgId: args.project.orgId, name: args.project.name },
          // Atlas refuses to delete a project that still has a cluster: a retained cluster retains its project.
          deletionProtection ? { ...child, retainOnDelete: true } : child,
        ).id
      : pulumi.output(args.projectId!);

    const target = new TargetCluster(
      `${name}-target`,
      "cluster" in args.target
        ? {
            projectId,
            cluster: args.target.cluster,
            projectIsNew: args.project !== undefined,
            literalProjectId: typeof args.projectId === "string" ? args.projectId : undefined,
          }
        : { projectId, existingClusterName: args.target.existingClusterName, existingClusterTier: args.target.tier },
      { parent: this, ...(providerOpts.provider ? { providers: [providerOpts.provider] } : {}) },
    );

    const access = createAccessList(name, projectId, args.accessList ?? [], cutover, child);
    const users = createDatabaseUsers(name, projectId, args.databaseUsers ?? [], child, target);

    // The migration user (and its role) exist while migrating. Once cutover is true they are left out of the
    // program, so Pulumi deletes them after the Migration finished the cutover — as Atlas live migration
    // removes the user it imported with. The connection string keeps the credentials for the cutover itself.
    const temporary: pulumi.CustomResourceOptions = { ...child, ...TEMPORARY_OPTIONS };
    const migrationUser: pulumi.Resource[] = [];
    if (args.migrationUser && engine !== "atlas-push" && !cutover) {
      const { roles, role } = createMigrationRole(name, engine ?? "builtin", projectId, temporary);
      if (role) migrationUser.push(role);
      migrationUser.push(
        createDatabaseUser(
          `${name}-migration-user`,
          projectId,
          { username: args.migrationUser.username, password: args.migrationUser.password, roles, clusters: [target.clusterName] },
          { ...temporary, dependsOn: [target, ...(role ? [role] : [])], aliases: [legacyAlias(`${name}-migration-user-0`)] },
        ),
      );
    }

    const targetUri = args.migrationUser
      ? connectionStringWithUser(target.standardSrv, args.migrationUser.username, args.migrationUser.password)
      : undefined;
    const temporaryEntries = (args.accessList ?? []).filter((e) => e.temporary);
    const temporaryAddresses = temporaryEntries.map((e) => e.cidr ?? e.ip).filter((a): a is string => typeof a === "string");

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
        // Given here, or those of the mongodbatlas provider the user passed (so one Atlas account is named once);
        // only for atlas-push (or an engine known only at run time): no other engine calls the Atlas API, so no
        // other Migration keeps credentials in its state.
        atlasCredentials:
          args.atlasCredentials ?? (explicitProvider && (engine === "atlas-push" || engine === undefined) ? credentialsOfProvider(explicitProvider) : undefined),
        declaredBy: `AtlasMigration ${name}`,
        declaredUsers: (args.databaseUsers ?? []).map((u) => pulumi.interpolate`${u.username}@${u.authDatabaseName ?? "admin"}`),
        // What this program leaves out once cutover is true: the Migration's check refuses a first `pulumi up`
        // that already has cutover: true while any of these would be missing during the sync.
        dropsAtCutover: {
          temporaryAccessEntries: temporaryEntries.length,
          ...(temporaryAddresses.length ? { accessEntries: temporaryAddresses } : {}),
          migrationUser: args.migrationUser !== undefined && engine !== "atlas-push",
        },
      },
      // The sync starts only once the target can be reached and written. Never retained: destroy before
      // COMPLETE must stop the sync.
      { parent: this, dependsOn: [target, ...access, ...users, ...migrationUser], retainOnDelete: false },
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
