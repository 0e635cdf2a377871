// The Migration dynamic resource and its provider.
//
// Pulumi serializes the provider object into state (`__provider`) and runs that text in its dynamic-provider
// host. So the provider here is deliberately tiny: each method `require()`s the implementation
// (provider/runtime.ts, exported as "pulumi-atlas-migration/provider-runtime") at call time. The serialized
// text therefore holds no zod schema, no client, no credential, and stays a few kilobytes.
//
// Upgrade rule: `providerVersion` is an input equal to this package's version. After an upgrade `diff` reports
// a change, the update stores the new `__provider`, and from then on `pulumi refresh` and `pulumi destroy`
// (which run the code stored in state) run the new code. Implementations must keep reading state written by
// older versions.

import * as pulumi from "@pulumi/pulumi";
import type { EngineName, MigrationHandle, ShardingEntry, VerificationMode, VerificationReport, WriteBlockingMode } from "./engines/engine";

/** The `engine` input: an engine name, or "auto". Declared here (not taken from the zod schema) so the public
 *  types need no zod: a consumer's `tsc` must not compile zod's declarations. */
export type EngineChoice = "auto" | EngineName;

/** Copy progress, as the `progress` output reports it. */
export interface MigrationProgress {
  copiedDocuments?: number;
  totalDocuments?: number;
  copiedBytes?: number;
  totalBytes?: number;
  percent?: number;
}

/** A mongosync rollback (reverse sync after COMPLETE), as the `rollback` output reports it. */
export interface MigrationRollback {
  /** REVERSING, SYNCING, READY_TO_COMMIT or COMMITTED. */
  state: string;
  direction: string | null;
  lagSeconds: number | null;
  committedAt: string | null;
  verification: VerificationReport | null;
}

/** What `pulumi preview` of a cutover requires before it may pass (see provider/readiness.ts). */
export interface CutoverReadinessArgs {
  /** Largest replication lag (seconds) at the last status read that still allows the cutover. Default 60. */
  maxLagSeconds?: pulumi.Input<number>;
  /** How old (minutes) the last status read may be; older means "run `pulumi refresh` first". Default 60. */
  maxStatusAgeMinutes?: pulumi.Input<number>;
  /** The verification the cutover must run: "full" refuses "counts" and "none"; "counts" refuses "none". */
  requireVerification?: pulumi.Input<VerificationMode>;
}

/** Atlas API credentials handed to the Migration directly (instead of stack config). A secret in state. */
export interface MigrationAtlasCredentials {
  publicKey?: pulumi.Input<string>;
  privateKey?: pulumi.Input<string>;
  clientId?: pulumi.Input<string>;
  clientSecret?: pulumi.Input<string>;
  accessToken?: pulumi.Input<string>;
  baseUrl?: pulumi.Input<string>;
  isMongodbgovCloud?: pulumi.Input<boolean>;
}

/** The Migration's inputs, as a program writes them. Connection strings should be secrets. */
export interface MigrationArgs {
  /** "auto" (default) picks: M0/flex target ⇒ builtin; Cloud Manager source ⇒ atlas-push; mongosync URLs ⇒ mongosync; else builtin. */
  engine?: pulumi.Input<EngineChoice>;
  source: pulumi.Input<{
    /** mongodb:// or mongodb+srv:// connection string of the source (a secret). */
    uri?: pulumi.Input<string>;
    /** A Cloud Manager–monitored cluster, for engine atlas-push. */
    cloudManager?: pulumi.Input<{
      groupId: pulumi.Input<string>;
      clusterName: pulumi.Input<string>;
      username?: pulumi.Input<string>;
      password?: pulumi.Input<string>;
      ssl?: pulumi.Input<boolean>;
      caCertificatePath?: pulumi.Input<string>;
      managedAuthentication?: pulumi.Input<boolean>;
    }>;
  }>;
  target: pulumi.Input<{
    /** Connection string of the Atlas cluster with a database user (a secret); builtin and mongosync need it. */
    uri?: pulumi.Input<string>;
    atlas?: pulumi.Input<{ projectId: pulumi.Input<string>; clusterName: pulumi.Input<string>; tier?: pulumi.Input<string> }>;
  }>;
  /** `db.coll` / `db.*` patterns. Empty include = every user namespace. */
  namespaces?: pulumi.Input<{ include?: pulumi.Input<pulumi.Input<string>[]>; exclude?: pulumi.Input<pulumi.Input<string>[]> }>;
  /** false: sync and keep syncing. true: cut over (block source writes, drain, verify, COMPLETE). */
  cutover?: pulumi.Input<boolean>;
  /** "full" (default): counts and content hashes; "counts"; "none". */
  verificationMode?: pulumi.Input<VerificationMode>;
  writeBlocking?: pulumi.Input<{
    mode?: pulumi.Input<WriteBlockingMode>;
    /** Source users made read-only at cutover ("user@db") when mode is readOnlyUsers (or auto without setUserWriteBlockMode). */
    readOnlyUsers?: pulumi.Input<pulumi.Input<string>[]>;
    quietSeconds?: pulumi.Input<number>;
  }>;
  /** Each `pulumi up` drives the sync this long at most, then returns and resumes on the next `pulumi up`. */
  timeouts?: pulumi.Input<{
    createMinutes?: pulumi.Input<number>;
    cutoverMinutes?: pulumi.Input<number>;
    pollSeconds?: pulumi.Input<number>;
    readyLagSeconds?: pulumi.Input<number>;
  }>;
  builtin?: pulumi.Input<{
    batchBytes?: pulumi.Input<number>;
    parallelCollections?: pulumi.Input<number>;
    partitionDocuments?: pulumi.Input<number>;
    replayBatchSize?: pulumi.Input<number>;
    detachedWorker?: pulumi.Input<boolean>;
  }>;
  atlasPush?: pulumi.Input<{
    orgId: pulumi.Input<string>;
    migrationHost: pulumi.Input<string>;
    dropDestinationData?: pulumi.Input<boolean>;
    createLinkToken?: pulumi.Input<boolean>;
    linkTokenAccessListIps?: pulumi.Input<pulumi.Input<string>[]>;
    hostnameSchemaType?: pulumi.Input<"PUBLIC" | "PRIVATE_LINK" | "VPC_PEERING">;
    /** Take over an existing Atlas live migration (its id) instead of creating one. */
    adoptLiveMigrationId?: pulumi.Input<string>;
    privateLinkId?: pulumi.Input<string>;
    sharding?: pulumi.Input<{ createSupportingIndexes?: pulumi.Input<boolean>; entries: pulumi.Input<ShardingEntry[]> }>;
  }>;
  mongosync?: pulumi.Input<{
    urls: pulumi.Input<pulumi.Input<string>[]>;
    reversible?: pulumi.Input<boolean>;
    enableVerification?: pulumi.Input<boolean>;
    version?: pulumi.Input<string>;
    sharding?: pulumi.Input<{ createSupportingIndexes?: pulumi.Input<boolean>; entries: pulumi.Input<ShardingEntry[]> }>;
    /** The source's MongoDB version (db.version()), e.g. "5.0.20": pre-6.0 sources get no write blocking and no reverse. */
    sourceServerVersion?: pulumi.Input<string>;
    /** Leave a PAUSED mongosync paused: `pulumi up` neither resumes nor commits it. */
    keepPaused?: pulumi.Input<boolean>;
    /** After COMPLETE (needs reversible): reverse sync the new cluster back into the old source. */
    rollback?: pulumi.Input<boolean>;
    /** With rollback: commit the reverse direction, so the old source takes the writes again. */
    rollbackCutover?: pulumi.Input<boolean>;
  }>;
  /** The rules `pulumi preview` applies to a cutover (lag threshold, status age, verification). */
  cutoverReadiness?: pulumi.Input<CutoverReadinessArgs>;
  /** Atlas credentials for this Migration when they are not in stack config (e.g. from an explicit provider). */
  atlasCredentials?: pulumi.Input<MigrationAtlasCredentials>;
  /** Set by AtlasMigration: messages then speak of the component's arguments. */
  declaredBy?: pulumi.Input<string>;
  /**
   * Set by AtlasMigration: the target's database users its program declares ("user@authDb"). The builtin
   * preflight then names every source user missing from it (Atlas migrations do not carry users).
   */
  declaredUsers?: pulumi.Input<pulumi.Input<string>[]>;
  /** Set by AtlasMigration: what its program leaves out once cutover is true. */
  dropsAtCutover?: pulumi.Input<{
    temporaryAccessEntries?: pulumi.Input<number>;
    /** The literal addresses of those entries (for the policy pack's allow-all rule). */
    accessEntries?: pulumi.Input<string>[];
    migrationUser?: pulumi.Input<boolean>;
  }>;
}

/**
 * The provider Pulumi serializes. Every method loads the implementation when called; nothing is captured but
 * the fields below (two strings and a list of config key names). Do not add other fields, module-level helpers
 * or imports used inside these methods: they would be serialized.
 */
export class MigrationProvider implements pulumi.dynamic.ResourceProvider {
  /**
   * The runtime file this provider was serialized next to. The host resolves `require` from the program's
   * directory, which does not find this package when it is a transitive dependency under an isolated or nested
   * install (pnpm, npm --install-strategy=nested): then this absolute path does.
   */
  readonly runtimeFile: string = require.resolve("./runtime");
  /** This package's version when serialized: what to install when neither way finds it. */
  readonly packageVersion: string = require("pulumi-atlas-migration/package.json").version;
  /**
   * The `mongodbatlas:*` stack config keys the program saw: names only, never values. A Pulumi CLI older than
   * 3.139 hands a dynamic provider none of the stack config (pulumi/pulumi#17673), so `configure` compares what
   * arrives with these names and the runtime says so, instead of running without the credentials.
   */
  readonly stackAtlasConfigKeys: string[];

  constructor(stackAtlasConfigKeys: string[] = []) {
    this.stackAtlasConfigKeys = stackAtlasConfigKeys;
  }

  private runtime(): typeof import("./runtime") {
    const tried: string[] = [];
    for (const id of ["pulumi-atlas-migration/provider-runtime", this.runtimeFile]) {
      try {
        return require(id);
      } catch (err) {
        // Only "this very module is missing" moves on; a missing dependency inside it is a real error.
        const e = err as { code?: string; message?: string };
        if (e.code !== "MODULE_NOT_FOUND" || !String(e.message).includes(`'${id}'`)) throw err;
        tried.push(id);
      }
    }
    throw new Error(
      `pulumi-atlas-migration ${this.packageVersion} manages a Migration in this stack but cannot be found from ${process.cwd()} ` +
        `(tried ${tried.join(" and ")}). Install it in the program's directory — \`npm install pulumi-atlas-migration@${this.packageVersion}\` ` +
        `(or the git URL or tarball you installed it from) — and run the command again. Nothing was changed.`,
    );
  }

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.runtime().configure(req.config, this.stackAtlasConfigKeys);
  }

  async check(olds: any, news: any): Promise<pulumi.dynamic.CheckResult> {
    return this.runtime().check(olds, news);
  }

  async diff(id: string, olds: any, news: any): Promise<pulumi.dynamic.DiffResult> {
    return this.runtime().diff(id, olds, news);
  }

  async create(inputs: any): Promise<pulumi.dynamic.CreateResult> {
    return this.runtime().create(inputs);
  }

  async read(id: string, props: any): Promise<pulumi.dynamic.ReadResult> {
    return this.runtime().read(id, props);
  }

  async update(id: string, olds: any, news: any): Promise<pulumi.dynamic.UpdateResult> {
    return this.runtime().update(id, olds, news);
  }

  async delete(id: string, props: any): Promise<void> {
    return this.runtime().destroy(id, props);
  }
}

/**
 * One instance per set of `mongodbatlas:*` keys (in practice one per process): Pulumi caches the serialized text
 * per provider object, and an Automation API process may run programs of stacks with different config.
 */
const providers = new Map<string, MigrationProvider>();

function migrationProvider(): MigrationProvider {
  let keys: string[] = [];
  try {
    // Set to something: an empty value reads as unset on the provider side too.
    keys = Object.entries(pulumi.runtime.allConfig())
      .filter(([k, v]) => k.startsWith("mongodbatlas:") && v !== "")
      .map(([k]) => k)
      .sort();
  } catch {
    /* no config outside a Pulumi program */
  }
  const id = keys.join(",");
  let provider = providers.get(id);
  if (!provider) providers.set(id, (provider = new MigrationProvider(keys)));
  return provider;
}

/** This package's version; an input so that upgrades reach existing stacks (see the note at the top). */
export const PROVIDER_VERSION: string = require("pulumi-atlas-migration/package.json").version;

/**
 * A MongoDB → Atlas migration. `pulumi up` starts and drives the sync; flipping `cutover` to true finalizes it.
 */
export class Migration extends pulumi.dynamic.Resource {
  declare readonly migrationId: pulumi.Output<string>;
  /** The engine in use ("auto" resolved). */
  declare readonly engine: pulumi.Output<string>;
  declare readonly requestedEngine: pulumi.Output<string>;
  /** PENDING, COPYING, SYNCING, READY_FOR_CUTOVER, CUTTING_OVER, COMPLETE or FAILED. */
  declare readonly phase: pulumi.Output<string>;
  declare readonly lagSeconds: pulumi.Output<number | null>;
  declare readonly startedAt: pulumi.Output<string | null>;
  declare readonly cutoverCompletedAt: pulumi.Output<string | null>;
  declare readonly verification: pulumi.Output<VerificationReport | null>;
  declare readonly warnings: pulumi.Output<string[]>;
  declare readonly reason: pulumi.Output<string | null>;
  declare readonly progress: pulumi.Output<MigrationProgress | null>;
  declare readonly handle: pulumi.Output<MigrationHandle | null>;
  /** Atlas link token for the Cloud Manager side (atlas-push with createLinkToken). Secret. */
  declare readonly linkToken: pulumi.Output<string | null>;
  /** When the last status read happened (create, update, refresh): a cutover preview refuses older figures. */
  declare readonly statusCheckedAt: pulumi.Output<string | null>;
  /** atlas-push: the earliest moment Atlas's 120-hour cutover window can close. */
  declare readonly cutoverDeadline: pulumi.Output<string | null>;
  /** mongosync reverse sync after COMPLETE (mongosync.rollback): its state, direction, lag and commit. */
  declare readonly rollback: pulumi.Output<MigrationRollback | null>;
  declare readonly cutover: pulumi.Output<boolean | undefined>;

  constructor(name: string, args: MigrationArgs, opts?: pulumi.CustomResourceOptions) {
    const props: Record<string, unknown> = {
      // Output keys must be present for Pulumi to resolve them (seeded as undefined).
      migrationId: undefined,
      requestedEngine: undefined,
      phase: undefined,
      lagSeconds: undefined,
      startedAt: undefined,
      cutoverCompletedAt: undefined,
      verification: undefined,
      warnings: undefined,
      reason: undefined,
      progress: undefined,
      handle: undefined,
      linkToken: undefined,
      statusCheckedAt: undefined,
      cutoverDeadline: undefined,
      rollback: undefined,
      ...args,
      // Connection strings and passwords live in source/target: always secret, whatever the caller passed.
      source: pulumi.secret(args.source),
      target: pulumi.secret(args.target),
      ...(args.atlasCredentials === undefined ? {} : { atlasCredentials: pulumi.secret(args.atlasCredentials) }),
      engine: args.engine,
      resourceName: name,
      providerVersion: PROVIDER_VERSION,
    };
    super(
      migrationProvider(),
      name,
      props,
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["linkToken", "source", "target", "atlasCredentials"] }),
      "atlas-migration",
      "Migration",
    );
  }
}
