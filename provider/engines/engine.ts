// The one interface every migration engine implements, and the plain data that crosses it.
//
// The Migration provider (provider/migration.ts) owns the Pulumi lifecycle; an engine owns the data movement.
// Everything here is plain JSON-able data so it can be stored in Pulumi state and handed between processes
// (the provider host, the `atlas-migrate sync` worker). Nothing in a handle or a status may carry a credential.

export type EngineName = "builtin" | "mongosync" | "atlas-push";

export type Phase =
  | "PENDING"
  | "COPYING"
  | "SYNCING"
  | "READY_FOR_CUTOVER"
  | "CUTTING_OVER"
  | "COMPLETE"
  | "FAILED";

export type VerificationMode = "full" | "counts" | "none";

/**
 * How source writes are stopped at cutover.
 * - `auto`: `setUserWriteBlockMode` where the source supports it, else `readOnlyUsers` when users are listed,
 *   else an error at preflight that says which mode to pick.
 * - `setUserWriteBlockMode`: the server-side switch (MongoDB 6.0+).
 * - `readOnlyUsers`: the listed source users get read-only roles (the old mLab migration did this).
 * - `none`: the user stops the application; the engine waits for a quiet change stream before draining.
 */
export type WriteBlockingMode = "auto" | "setUserWriteBlockMode" | "readOnlyUsers" | "none";

export interface NamespaceFilter {
  /** `db.coll` or `db.*`; empty means "every user namespace". */
  include: string[];
  exclude: string[];
}

export interface CloudManagerSource {
  /** Cloud Manager project (group) id, 24 hex. */
  groupId: string;
  clusterName: string;
  username?: string;
  password?: string;
  ssl?: boolean;
  caCertificatePath?: string;
  managedAuthentication?: boolean;
}

export interface AtlasTarget {
  projectId: string;
  clusterName: string;
  /** Instance size name, e.g. "M0", "FLEX", "M10"; lets preflight check size limits and `auto` pick an engine. */
  tier?: string;
}

export interface SourceSpec {
  /** mongodb:// or mongodb+srv:// (or memory:// in tests). Secret. */
  uri?: string;
  cloudManager?: CloudManagerSource;
}

export interface TargetSpec {
  /** Connection string of the target; required by builtin and mongosync. Secret. */
  uri?: string;
  atlas?: AtlasTarget;
}

export interface ShardingEntry {
  database: string;
  collection: string;
  /** Shard key fields in order, e.g. [{ userId: 1 }] or [{ _id: "hashed" }]. */
  key: Array<Record<string, 1 | "hashed">>;
}

export interface AtlasPushOptions {
  orgId: string;
  migrationHost: string;
  dropDestinationData: boolean;
  /** Create an org link token and return it (secret) for the Cloud Manager side. */
  createLinkToken: boolean;
  linkTokenAccessListIps?: string[];
  hostnameSchemaType?: "PUBLIC" | "PRIVATE_LINK" | "VPC_PEERING";
  /**
   * Take over a live migration that already exists (e.g. created by a run whose answer was lost: the API cannot
   * list migrations) instead of creating one.
   */
  adoptLiveMigrationId?: string;
  privateLinkId?: string;
  sharding?: { createSupportingIndexes: boolean; entries: ShardingEntry[] };
}

export interface MongosyncOptions {
  /** One URL per mongosync process; every call goes to all of them (sharded sources run one per shard). */
  urls: string[];
  reversible: boolean;
  /** mongosync's embedded verifier. */
  enableVerification: boolean;
  /** mongosync's version (`mongosync --version`). The /start body depends on it; `/api/v1/info` is probed
   *  but is not documented, so set it. */
  version?: string;
  sharding?: { createSupportingIndexes: boolean; entries: ShardingEntry[] };
  /**
   * MongoDB version of the source, e.g. "5.0.20". Pre-6.0 sources cannot have write blocking or reverse sync,
   * and mongosync 1.12–1.19 refuses `enableUserWriteBlocking` for them; unset means "6.0 or later".
   */
  sourceServerVersion?: string;
  /** Leave a PAUSED mongosync paused: `pulumi up` neither resumes it nor commits (default false: resume). */
  keepPaused?: boolean;
  /**
   * Reverse sync after COMPLETE (needs reversible): "reverse" calls /reverse and syncs the new cluster back
   * into the old one; "commit" also commits that reverse direction (the rollback's cutover). See
   * provider/engines/mongosync/README.md.
   */
  rollback?: "none" | "reverse" | "commit";
}

export interface BuiltinOptions {
  /** Upper bound of bytes held in one copy batch. */
  batchBytes: number;
  /**
   * Collections (partitions) copied at the same time; over a slow link (copy-pace.ts) twice as many partitions,
   * so the few round trips of small collections overlap a large one's copy.
   */
  parallelCollections: number;
  /** Collections with more documents than this are split into `_id` partitions copied in parallel. */
  partitionDocuments: number;
  /** Change events applied per bulk write during replay. */
  replayBatchSize: number;
  /** Source users made read-only at cutover when writeBlocking is `readOnlyUsers`. */
  readOnlyUsers: string[];
  /** Seconds without a source event that count as "quiet" when writeBlocking is `none`. */
  quietSeconds: number;
  /** Start an `atlas-migrate sync` worker, detached, after create so sync continues between `pulumi up` runs. */
  detachedWorker: boolean;
  /**
   * Source users ("user@db") that setUserWriteBlockMode does not stop (root, restore, __system), acknowledged as
   * not used by the application. Without it, the builtin engine refuses to rely on write blocking while such
   * users exist.
   */
  acknowledgedBypassUsers?: string[];
  /**
   * "continuous" streams changes and refuses a source without change streams; "snapshot" copies, then
   * reconciles at cutover with writes blocked; "auto" (default) streams where the source can.
   */
  sync?: "auto" | "continuous" | "snapshot";
}

/** The validated, engine-facing description of one migration (secrets in plaintext: never log it whole). */
export interface MigrationSpec {
  /** Deterministic id of this migration (stable across `pulumi up` runs so start is idempotent). */
  migrationId: string;
  /** The Pulumi resource name, used to prefix progress lines. */
  resourceName: string;
  engine: EngineName;
  source: SourceSpec;
  target: TargetSpec;
  namespaces: NamespaceFilter;
  verification: VerificationMode;
  writeBlocking: WriteBlockingMode;
  timeouts: {
    /** Seconds create may spend before returning a partial (resumable) result. */
    createSeconds: number;
    /** Seconds a cutover update may spend before returning a partial (resumable) result. */
    cutoverSeconds: number;
    /** Seconds between status polls of managed engines. */
    pollSeconds: number;
    /** Lag (seconds) under which a running sync counts as caught up. */
    readyLagSeconds: number;
  };
  builtin: BuiltinOptions;
  atlasPush?: AtlasPushOptions;
  mongosync?: MongosyncOptions;
  /** Atlas credentials given as an input (the component's `atlasCredentials`); they win over stack config. */
  atlasCredentials?: NonNullable<EngineCredentials["atlas"]>;
  /** The target users the program declares ("user@authDb"), when AtlasMigration says; unset = not known. */
  declaredUsers?: string[];
}

/** Credentials the provider got from stack config (`configure`) or the environment; never from inputs. */
export interface EngineCredentials {
  atlas?: {
    baseUrl?: string;
    publicKey?: string;
    privateKey?: string;
    clientId?: string;
    clientSecret?: string;
    /** An OAuth access token used as is (`mongodbatlas:accessToken`). */
    accessToken?: string;
    /** `mongodbatlas:isMongodbgovCloud`: the default base URL becomes https://cloud.mongodbgov.com. */
    isMongodbgovCloud?: boolean;
  };
}

export interface EngineContext {
  /** Absolute epoch-ms deadline for this call; engines must return or throw DeadlineExceededError by then. */
  deadline: number;
  /** A progress line for `pulumi up`; the provider prefixes it with the resource name and redacts it. */
  log(line: string): void;
  credentials: EngineCredentials;
  /**
   * Hands a secret the user needs (e.g. the Atlas link token for the Cloud Manager side) to the provider,
   * which returns it as a secret output. Handles and statuses must never carry it.
   */
  publishSecret(name: "linkToken", value: string): void;
  /** Injectable clock and sleep so tests and emulators need no real waiting. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /**
   * What Pulumi state holds for this migration from earlier runs, filled by the provider (absent for callers that
   * predate it). Engines derive their state from the engine's own answer plus this — never from process memory,
   * which a new `pulumi up` process does not have.
   */
  stored?: {
    /** The phase stored by the last run (e.g. CUTTING_OVER after a cutover that ran out of time). */
    phase?: Phase;
    /** The link token an earlier run published (atlas-push), so a pending link reuses it. */
    linkToken?: string | null;
  };
}

export interface PreflightFinding {
  /** Stable code, e.g. "TARGET_OLDER_THAN_SOURCE". */
  code: string;
  message: string;
  /** What the user should do about it. */
  action: string;
}

export interface PreflightReport {
  ok: boolean;
  errors: PreflightFinding[];
  warnings: PreflightFinding[];
  /** Facts learned (versions, topology, capture mode, sizes) for outputs and logs. */
  facts: Record<string, string | number | boolean>;
}

/** Engine-specific, JSON-able, credential-free state needed to find the migration again. Stored in outputs. */
export interface MigrationHandle {
  engine: EngineName;
  /** The engine's own id: Atlas live migration id, mongosync's migration id, or the builtin checkpoint id. */
  id: string;
  startedAt: string;
  data: Record<string, string | number | boolean | string[] | null>;
}

export interface MigrationStatus {
  phase: Phase;
  /** Seconds the target is behind the source; null when unknown (e.g. before the copy finished). */
  lagSeconds: number | null;
  readyForCutover: boolean;
  copiedBytes?: number;
  totalBytes?: number;
  copiedDocuments?: number;
  totalDocuments?: number;
  /** Human reason for FAILED, or EXPIRED and similar engine-side states. */
  reason?: string;
  warnings: string[];
  /** Extra engine facts (e.g. mongosync verifier phase, Atlas status string). */
  details?: Record<string, string | number | boolean | null>;
}

export interface NamespaceVerification {
  namespace: string;
  sourceCount: number;
  targetCount: number;
  sourceHash?: string;
  targetHash?: string;
  match: boolean;
  /** A few `_id`s (as canonical Extended JSON) that differ, when known. */
  sampleMismatchedIds?: string[];
}

export interface VerificationReport {
  /** What was checked: our own counts/hashes, or the managed engine's verifier. */
  mode: VerificationMode | "engine";
  passed: boolean;
  summary: string;
  namespaces: NamespaceVerification[];
}

export interface CutoverReport {
  phase: "COMPLETE";
  cutoverCompletedAt: string;
  verification: VerificationReport;
  warnings: string[];
}

export interface CancelReport {
  /** What happened, e.g. "paused mongosync", "Atlas has no cancel operation; the migration was left running". */
  warnings: string[];
}

export interface MigrationEngine {
  readonly name: EngineName;
  /** Checks that need the network. Never changes anything. */
  preflight(spec: MigrationSpec, ctx: EngineContext): Promise<PreflightReport>;
  /** Starts the migration, or finds the one already started for spec.migrationId (idempotent). */
  start(spec: MigrationSpec, ctx: EngineContext): Promise<MigrationHandle>;
  /**
   * Moves the sync forward (builtin: copies and replays; managed engines: polls) until it is caught up
   * (READY_FOR_CUTOVER), FAILED, or ctx.deadline — then returns the latest status. Never throws on the deadline.
   */
  advance(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<MigrationStatus>;
  /** Reads the status. No side effects (used by `pulumi refresh`). */
  status(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<MigrationStatus>;
  /**
   * Blocks source writes, drains, verifies, finalizes. Idempotent and resumable: calling it again after an
   * interruption continues; calling it after COMPLETE returns the stored report. Throws DeadlineExceededError
   * when ctx.deadline passes first.
   */
  cutover(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<CutoverReport>;
  /** Stops the sync before COMPLETE. Never touches target data. */
  cancel(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<CancelReport>;
  /**
   * What is left to remove once the migration is COMPLETE (atlas-push: the org's live-migration link token),
   * for `pulumi destroy` of a finished migration. Idempotent; never touches target data.
   */
  cleanupAfterComplete?(spec: MigrationSpec, handle: MigrationHandle, ctx: EngineContext): Promise<CancelReport>;
}
