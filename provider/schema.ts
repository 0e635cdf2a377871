// Inputs of the Migration resource: their zod schema, the user-facing message of every rule, and the
// conversion into the engine-facing MigrationSpec.
//
// `validateInputs` runs in the provider's `check`: offline, fast, pure. It tolerates Pulumi's unknown value
// (previews of programs whose inputs are not known yet) anywhere: a rule whose value is unknown is skipped
// and runs again at `pulumi up`, when the value is known.
//
// This module is only ever loaded with require() inside provider methods, never captured by the serialized
// provider (zod schemas cannot be serialized).

import { z } from "zod";
import * as crypto from "crypto";
import type {
  EngineName,
  MigrationSpec,
  NamespaceFilter,
  ShardingEntry,
  VerificationMode,
  WriteBlockingMode,
} from "./engines/engine";
import { rawCredentialProblem, redact, redactConnectionEcho } from "./errors";

/** pulumi.runtime.unknownValue: what check/diff see in place of a value not known during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function isUnknown(value: unknown): boolean {
  return value === UNKNOWN;
}

/** True when the value or anything inside it is unknown. */
export function containsUnknown(value: unknown): boolean {
  if (isUnknown(value)) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (value && typeof value === "object") return Object.values(value).some(containsUnknown);
  return false;
}

export const ENGINE_CHOICES = ["auto", "builtin", "mongosync", "atlas-push"] as const;
export type EngineChoice = (typeof ENGINE_CHOICES)[number];

/** Databases no migration may read from or write to. */
const RESERVED_DATABASES = new Set(["admin", "config", "local", "__atlas_migration"]);
/** Atlas tiers that no managed migration tool accepts as a target: only the builtin engine serves them. */
export const SHARED_TIERS = new Set(["M0", "M2", "M5", "FLEX"]);

// ---------------------------------------------------------------------------------------------------------
// Leaf rules. Each message says what is wrong and what to do.

const HEX24 = /^[a-f0-9]{24}$/;

export interface ParsedMongoUri {
  hosts: string[];
  srvHost?: string;
  replicaSet?: string;
}

// The fast path of parseMongoUri: `check` must answer in milliseconds, and loading the driver to build a
// MongoClient costs hundreds of them on the first call. Connection strings in a plain shape (the common ones)
// are vetted here; anything else — an unknown option, a value outside the rules below, IPv6, unusual characters
// — goes to the driver's parser, whose error is the one the user sees. So this path only ever accepts what the
// driver accepts (tests/unit/uri-fast-path.test.ts compares the two), never more.
const BOOL = (v: string) => v === "true" || v === "false";
const COUNT = (v: string) => /^(0|[1-9]\d{0,8})$/.test(v);
const TEXT = (v: string) => /^[A-Za-z0-9._-]+$/.test(v);
/** Option (lower-cased) → value rule, as the driver's connection_string.ts OPTIONS table checks them. */
const FAST_OPTIONS: Record<string, (v: string) => boolean> = {
  replicaset: TEXT,
  authsource: TEXT,
  appname: TEXT,
  retrywrites: BOOL,
  retryreads: BOOL,
  tls: BOOL,
  ssl: BOOL,
  w: (v) => v === "majority" || COUNT(v),
  readpreference: (v) => ["primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"].includes(v),
  maxpoolsize: COUNT,
  connecttimeoutms: COUNT,
  serverselectiontimeoutms: COUNT,
  sockettimeoutms: COUNT,
};
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const USERINFO = /^(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+$/;

/** The parse of a plain connection string, or undefined when the driver must decide. */
export function parsePlainMongoUri(uri: string): ParsedMongoUri | undefined {
  const scheme = /^mongodb(\+srv)?:\/\//.exec(uri);
  if (!scheme) return undefined;
  const srv = scheme[1] !== undefined;
  const rest = uri.slice(scheme[0].length);
  const slash = rest.indexOf("/");
  if (slash < 0 && rest.includes("?")) return undefined;
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const tail = slash < 0 ? "" : rest.slice(slash + 1);
  const at = authority.lastIndexOf("@");
  if (at >= 0) {
    const [user, password, ...more] = authority.slice(0, at).split(":");
    if (more.length > 0 || !USERINFO.test(user) || (password !== undefined && !USERINFO.test(password))) return undefined;
  }
  const hostList = authority.slice(at + 1).split(",");
  const hosts: string[] = [];
  for (const h of hostList) {
    const [name, port, ...extra] = h.split(":");
    if (extra.length > 0 || !name || name.length > 253 || !name.split(".").every((l) => LABEL.test(l) && !/^xn--/i.test(l))) return undefined;
    // A name ending in a number is an IPv4 address to the URL parser: only a plain dotted quad here.
    if (/^\d+$/.test(name.split(".").pop() as string) && !/^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(name)) return undefined;
    if (port !== undefined && !(/^[1-9]\d{0,4}$/.test(port) && Number(port) <= 65535)) return undefined;
    if (srv && port !== undefined) return undefined;
    hosts.push(`${name.toLowerCase()}:${port ?? 27017}`);
  }
  if (srv && (hosts.length !== 1 || hostList[0].split(".").length < 3)) return undefined;
  const q = tail.indexOf("?");
  const db = q < 0 ? tail : tail.slice(0, q);
  if (db !== "" && !/^[A-Za-z0-9_-]{1,63}$/.test(db)) return undefined;
  let replicaSet: string | undefined;
  const seen = new Set<string>();
  if (q >= 0 && q < tail.length - 1) {
    for (const pair of tail.slice(q + 1).split("&")) {
      const eq = pair.indexOf("=");
      if (eq <= 0) return undefined;
      const key = pair.slice(0, eq).toLowerCase();
      const value = pair.slice(eq + 1);
      const rule = FAST_OPTIONS[key];
      if (!rule || !rule(value) || seen.has(key)) return undefined;
      seen.add(key);
      if (key === "replicaset") replicaSet = value;
    }
  }
  if (seen.has("tls") && seen.has("ssl")) return undefined; // the driver insists they agree: let it say so
  return srv ? { hosts: [], srvHost: hostList[0], replicaSet } : { hosts: hosts.sort(), replicaSet };
}

/**
 * Parses a connection string: plain shapes here (no driver load), everything else with the driver's own parser
 * (no network: the client is never connected).
 */
export function parseMongoUri(uri: string): ParsedMongoUri {
  if (uri.startsWith("memory://")) {
    const name = uri.slice("memory://".length).replace(/\/.*$/, "").replace(/^[^@]*@/, "");
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error("memory:// URIs name an in-memory cluster: memory://<name>");
    return { hosts: [`memory:${name}`] };
  }
  const plain = parsePlainMongoUri(uri);
  if (plain) return plain;
  return parseWithDriver(uri);
}

/** The driver's parse (MongoClient's constructor parses and validates every option; it never connects). */
export function parseWithDriver(uri: string): ParsedMongoUri {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const mongodb = require("mongodb") as typeof import("mongodb");
  const client = new mongodb.MongoClient(uri, { serverSelectionTimeoutMS: 1 });
  const options = client.options;
  return {
    hosts: options.hosts.map((h) => String(h)).sort(),
    srvHost: options.srvHost,
    replicaSet: options.replicaSet,
  };
}

const connectionString = (what: string) =>
  z.string({ error: `${what} must be a connection string (mongodb://… or mongodb+srv://…)` }).superRefine((uri, ctx) => {
    if (isUnknown(uri)) return;
    if (uri.trim() === "") {
      ctx.addIssue({ code: "custom", message: `${what} is empty; give the deployment's connection string` });
      return;
    }
    const raw = rawCredentialProblem(uri);
    if (raw) {
      ctx.addIssue({ code: "custom", message: `${what} ${raw}` });
      return;
    }
    try {
      parseMongoUri(uri);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      ctx.addIssue({
        code: "custom",
        // The driver quotes pieces of a password with raw special characters back as options or hosts.
        message: `${what} is not a valid MongoDB connection string (${redactConnectionEcho(redact(reason), uri)}); write mongodb://host1:port,host2:port/?replicaSet=NAME or mongodb+srv://cluster.example.net (no port with +srv), with the credentials as USER:PASSWORD@ before the host and special characters in the password percent-encoded`,
      });
    }
  });

const objectId = (what: string) =>
  z.string({ error: `${what} must be a 24-character hex id` }).refine((v) => isUnknown(v) || HEX24.test(v), {
    message: `${what} must be a 24-character lowercase hex id, as shown in the project settings or the API`,
  });

const nonEmpty = (what: string, hint: string) =>
  z.string({ error: `${what} must be a string: ${hint}` }).min(1, { message: `${what} is empty: ${hint}` });

const positiveNumber = (what: string, hint: string) =>
  z
    .number({ error: `${what} must be a number: ${hint}` })
    .positive({ message: `${what} must be greater than 0: ${hint}` });

const positiveInt = (what: string, hint: string) =>
  z.number({ error: `${what} must be a whole number: ${hint}` }).int({ message: `${what} must be a whole number: ${hint}` }).positive({
    message: `${what} must be greater than 0: ${hint}`,
  });

/** `db.coll` or `db.*`. Returns a reason when the pattern is not valid. */
export function namespacePatternProblem(pattern: string): string | undefined {
  if (pattern.trim() === "") return "is empty; write `db.collection` or `db.*`";
  const dot = pattern.indexOf(".");
  if (dot <= 0 || dot === pattern.length - 1) return `"${pattern}" is not \`db.collection\` or \`db.*\``;
  const db = pattern.slice(0, dot);
  const coll = pattern.slice(dot + 1);
  if (db === "*") return `"${pattern}": a wildcard database is not supported; list each database as \`db.*\``;
  if (/[\/\\. "$*<>:|?\s]/.test(db)) return `"${pattern}": database name "${db}" has characters MongoDB does not allow`;
  if (Buffer.byteLength(db) > 63) return `"${pattern}": database names are at most 63 bytes`;
  if (RESERVED_DATABASES.has(db)) return `"${pattern}": database "${db}" is internal to MongoDB or to this package and is never migrated`;
  if (coll !== "*" && (coll.includes("*") || coll.includes("$")))
    return `"${pattern}": use \`*\` only as the whole collection part (\`db.*\`), and no \`$\``;
  if (coll.startsWith("system.")) return `"${pattern}": system collections are not migrated`;
  return undefined;
}

/** Does namespace pattern `outer` match everything `inner` matches? */
export function patternCovers(outer: string, inner: string): boolean {
  if (outer === inner) return true;
  const [outerDb, outerColl] = splitPattern(outer);
  const [innerDb] = splitPattern(inner);
  return outerColl === "*" && outerDb === innerDb;
}

function splitPattern(pattern: string): [string, string] {
  const dot = pattern.indexOf(".");
  return [pattern.slice(0, dot), pattern.slice(dot + 1)];
}

const namespacePattern = (where: string) =>
  z.string({ error: `${where} entries must be strings like "db.coll" or "db.*"` }).superRefine((p, ctx) => {
    if (isUnknown(p)) return;
    const problem = namespacePatternProblem(p);
    if (problem) ctx.addIssue({ code: "custom", message: `${where} entry ${problem}` });
  });

const shardingEntries = z.array(
  z.strictObject({
    database: nonEmpty("sharding entry database", "name the database of the sharded collection"),
    collection: nonEmpty("sharding entry collection", "name the sharded collection"),
    key: z
      // MongoDB shard keys are ascending fields or one hashed field; -1 is refused by shardCollection.
      .array(z.record(z.string(), z.union([z.literal(1), z.literal("hashed")], { error: 'sharding entry key fields must be 1 or "hashed" (shard keys cannot be descending), e.g. [{ userId: 1 }]' })), {
        error: 'sharding entry key must be a list like [{ userId: 1 }] or [{ _id: "hashed" }]',
      })
      .min(1, { message: "sharding entry key needs at least one field" }),
  }),
);

// ---------------------------------------------------------------------------------------------------------
// The inputs.

const cloudManagerSource = z.strictObject({
  groupId: objectId("source.cloudManager.groupId (the Cloud Manager project id)"),
  clusterName: nonEmpty("source.cloudManager.clusterName", "the cluster name as Cloud Manager shows it"),
  username: z.string().optional(),
  password: z.string().optional(),
  ssl: z.boolean({ error: "source.cloudManager.ssl must be true or false" }).optional(),
  caCertificatePath: z.string().optional(),
  managedAuthentication: z.boolean({ error: "source.cloudManager.managedAuthentication must be true or false" }).optional(),
});

const atlasTarget = z.strictObject({
  projectId: objectId("target.atlas.projectId (the Atlas project id)"),
  clusterName: nonEmpty("target.atlas.clusterName", "the Atlas cluster to migrate into"),
  tier: z
    .string({ error: 'target.atlas.tier must be a tier name such as "M0", "FLEX" or "M10"' })
    .regex(/^(M\d+|FLEX|R\d+)$/i, { message: 'target.atlas.tier must be a tier name such as "M0", "FLEX" or "M10"' })
    .optional(),
});

export const migrationInputsSchema = z
  .strictObject(
    {
      providerVersion: z.string().optional(),
      resourceName: z.string().optional(),
      engine: z
        .enum(ENGINE_CHOICES, {
          error: `engine must be one of ${ENGINE_CHOICES.map((e) => `"${e}"`).join(", ")} ("auto" picks from the source and target)`,
        })
        .optional(),
      source: z.strictObject(
        {
          uri: connectionString("source.uri").optional(),
          cloudManager: cloudManagerSource.optional(),
        },
        { error: "source must be { uri } or { cloudManager: { groupId, clusterName } }" },
      ),
      target: z.strictObject(
        {
          uri: connectionString("target.uri").optional(),
          atlas: atlasTarget.optional(),
        },
        { error: "target must be { uri } and/or { atlas: { projectId, clusterName } }" },
      ),
      namespaces: z
        .strictObject({
          include: z.array(namespacePattern("namespaces.include")).optional(),
          exclude: z.array(namespacePattern("namespaces.exclude")).optional(),
        })
        .optional(),
      cutover: z.boolean({ error: "cutover must be true or false (true finalizes the migration)" }).optional(),
      verificationMode: z
        .enum(["full", "counts", "none"], {
          error: 'verificationMode must be "full" (counts and content hashes), "counts" or "none"',
        })
        .optional(),
      writeBlocking: z
        .strictObject({
          mode: z
            .enum(["auto", "setUserWriteBlockMode", "readOnlyUsers", "none"], {
              error: 'writeBlocking.mode must be "auto", "setUserWriteBlockMode", "readOnlyUsers" or "none"',
            })
            .optional(),
          readOnlyUsers: z.array(nonEmpty("writeBlocking.readOnlyUsers entry", 'write "user@db", e.g. "app@admin"')).optional(),
          quietSeconds: positiveNumber("writeBlocking.quietSeconds", "seconds without source writes that count as quiet").optional(),
        })
        .optional(),
      timeouts: z
        .strictObject({
          createMinutes: positiveNumber("timeouts.createMinutes", "how long one `pulumi up` may drive the initial sync").optional(),
          cutoverMinutes: positiveNumber("timeouts.cutoverMinutes", "how long one `pulumi up` may drive the cutover").optional(),
          pollSeconds: positiveNumber("timeouts.pollSeconds", "seconds between status polls").optional(),
          readyLagSeconds: positiveNumber("timeouts.readyLagSeconds", "lag under which the sync counts as caught up").optional(),
        })
        .optional(),
      builtin: z
        .strictObject({
          batchBytes: z
            .number({ error: "builtin.batchBytes must be a number of bytes" })
            .int({ message: "builtin.batchBytes must be a whole number of bytes" })
            .min(64 * 1024, { message: "builtin.batchBytes must be at least 65536 (64 KiB)" })
            .optional(),
          parallelCollections: positiveInt("builtin.parallelCollections", "collections copied at once (twice as many partitions over a slow link), e.g. 4").optional(),
          partitionDocuments: positiveInt("builtin.partitionDocuments", "collections larger than this are split, e.g. 100000").optional(),
          replayBatchSize: positiveInt("builtin.replayBatchSize", "change events per bulk write, e.g. 500").optional(),
          detachedWorker: z.boolean({ error: "builtin.detachedWorker must be true or false" }).optional(),
          acknowledgeWriteBlockingBypass: z
            .array(
              z.string().refine((u) => isUnknown(u) || /^[^@\s]+@[^@\s]+$/.test(u), {
                message: 'builtin.acknowledgeWriteBlockingBypass entries must be "user@db", e.g. "root@admin"',
              }),
            )
            .optional(),
          sync: z
            .enum(["auto", "continuous", "snapshot"], { error: 'builtin.sync must be "auto", "continuous" or "snapshot"' })
            .optional(),
        })
        .optional(),
      atlasPush: z
        .strictObject({
          orgId: objectId("atlasPush.orgId (the Atlas organization id)"),
          migrationHost: nonEmpty("atlasPush.migrationHost", "the migration host provisioned in Cloud Manager"),
          dropDestinationData: z.boolean({ error: "atlasPush.dropDestinationData must be true or false" }).optional(),
          createLinkToken: z.boolean({ error: "atlasPush.createLinkToken must be true or false" }).optional(),
          linkTokenAccessListIps: z.array(z.string()).optional(),
          hostnameSchemaType: z.enum(["PUBLIC", "PRIVATE_LINK", "VPC_PEERING"]).optional(),
          adoptLiveMigrationId: objectId("atlasPush.adoptLiveMigrationId (the live migration id shown in Atlas)").optional(),
          privateLinkId: z.string().optional(),
          sharding: z
            .strictObject({ createSupportingIndexes: z.boolean().optional(), entries: shardingEntries })
            .optional(),
        })
        .optional(),
      mongosync: z
        .strictObject({
          urls: z
            .array(
              z.string().refine((u) => isUnknown(u) || /^https?:\/\/[^\s/]+/.test(u), {
                message: "mongosync.urls entries must be http(s) URLs of mongosync's API, e.g. http://10.0.0.5:27182",
              }),
            )
            .min(1, { message: "mongosync.urls needs at least one mongosync API URL (one per shard for sharded sources)" }),
          reversible: z.boolean({ error: "mongosync.reversible must be true or false" }).optional(),
          enableVerification: z.boolean({ error: "mongosync.enableVerification must be true or false" }).optional(),
          version: z
            .string({ error: 'mongosync.version must be what `mongosync --version` prints, e.g. "1.19.0"' })
            .refine((v) => isUnknown(v) || /^v?\d+\.\d+(\.\d+)?/.test(v.trim()), { message: 'mongosync.version must look like "1.19.0" (what `mongosync --version` prints)' })
            .optional(),
          sharding: z
            .strictObject({ createSupportingIndexes: z.boolean().optional(), entries: shardingEntries })
            .optional(),
          sourceServerVersion: z
            .string({ error: 'mongosync.sourceServerVersion must be the source\'s MongoDB version, e.g. "5.0.20"' })
            .refine((v) => isUnknown(v) || /^\d+\.\d+(\.\d+)?$/.test(v.trim()), { message: 'mongosync.sourceServerVersion must look like "6.0.17" (db.version() on the source)' })
            .optional(),
          keepPaused: z.boolean({ error: "mongosync.keepPaused must be true or false (true leaves a PAUSED mongosync paused)" }).optional(),
          rollback: z.boolean({ error: "mongosync.rollback must be true or false (true reverses a COMPLETE migration back into the old source)" }).optional(),
          rollbackCutover: z.boolean({ error: "mongosync.rollbackCutover must be true or false (true commits the rollback)" }).optional(),
        })
        .optional(),
      cutoverReadiness: z
        .strictObject({
          maxLagSeconds: z
            .number({ error: "cutoverReadiness.maxLagSeconds must be a number of seconds" })
            .min(0, { message: "cutoverReadiness.maxLagSeconds must be 0 or more: the largest lag that still allows the cutover" })
            .optional(),
          maxStatusAgeMinutes: positiveNumber(
            "cutoverReadiness.maxStatusAgeMinutes",
            "how old the last status read (`pulumi refresh`) may be when a cutover is previewed",
          ).optional(),
          requireVerification: z
            .enum(["full", "counts", "none"], {
              error: 'cutoverReadiness.requireVerification must be "full", "counts" or "none"',
            })
            .optional(),
        })
        .optional(),
      atlasCredentials: z
        .strictObject({
          publicKey: z.string().optional(),
          privateKey: z.string().optional(),
          clientId: z.string().optional(),
          clientSecret: z.string().optional(),
          accessToken: z.string().optional(),
          baseUrl: z.string().refine((u) => isUnknown(u) || /^https?:\/\/[^\s/]+/.test(u), {
            message: "atlasCredentials.baseUrl must be an http(s) URL such as https://cloud.mongodb.com",
          }).optional(),
          isMongodbgovCloud: z.boolean({ error: "atlasCredentials.isMongodbgovCloud must be true or false" }).optional(),
        })
        .optional(),
      declaredBy: z.string().optional(),
      declaredUsers: z.array(z.string()).optional(),
      dropsAtCutover: z
        .strictObject({
          temporaryAccessEntries: z.number().int().min(0).optional(),
          accessEntries: z.array(z.string()).optional(),
          migrationUser: z.boolean().optional(),
        })
        .optional(),
    },
    { error: "the Migration inputs must be an object" },
  )
  .superRefine((inputs, ctx) => crossFieldRules(inputs as MigrationInputs, ctx));

/**
 * What `validateInputs` is checking for. "run": create/update are about to drive the sync (strict).
 * "create"/"update": `check` before a create or an update (olds given), where a rule may depend on whether the
 * migration already exists. Set only for the duration of one synchronous validateInputs call.
 */
type CheckMode = "run" | "create" | "update";
let checkMode: CheckMode = "run";

export type MigrationInputs = {
  providerVersion?: string;
  resourceName?: string;
  engine?: EngineChoice;
  source: { uri?: string; cloudManager?: z.infer<typeof cloudManagerSource> };
  target: { uri?: string; atlas?: z.infer<typeof atlasTarget> };
  namespaces?: { include?: string[]; exclude?: string[] };
  cutover?: boolean;
  verificationMode?: VerificationMode;
  writeBlocking?: { mode?: WriteBlockingMode; readOnlyUsers?: string[]; quietSeconds?: number };
  timeouts?: { createMinutes?: number; cutoverMinutes?: number; pollSeconds?: number; readyLagSeconds?: number };
  builtin?: {
    batchBytes?: number;
    parallelCollections?: number;
    partitionDocuments?: number;
    replayBatchSize?: number;
    detachedWorker?: boolean;
    /** Source users that setUserWriteBlockMode does not stop, acknowledged as unused by the application. */
    acknowledgeWriteBlockingBypass?: string[];
    sync?: "auto" | "continuous" | "snapshot";
  };
  atlasPush?: {
    orgId: string;
    migrationHost: string;
    dropDestinationData?: boolean;
    createLinkToken?: boolean;
    linkTokenAccessListIps?: string[];
    hostnameSchemaType?: "PUBLIC" | "PRIVATE_LINK" | "VPC_PEERING";
    adoptLiveMigrationId?: string;
    privateLinkId?: string;
    sharding?: { createSupportingIndexes?: boolean; entries: ShardingEntry[] };
  };
  mongosync?: {
    urls: string[];
    reversible?: boolean;
    enableVerification?: boolean;
    version?: string;
    sharding?: { createSupportingIndexes?: boolean; entries: ShardingEntry[] };
    sourceServerVersion?: string;
    keepPaused?: boolean;
    rollback?: boolean;
    rollbackCutover?: boolean;
  };
  cutoverReadiness?: { maxLagSeconds?: number; maxStatusAgeMinutes?: number; requireVerification?: VerificationMode };
  atlasCredentials?: {
    publicKey?: string;
    privateKey?: string;
    clientId?: string;
    clientSecret?: string;
    accessToken?: string;
    baseUrl?: string;
    isMongodbgovCloud?: boolean;
  };
  declaredBy?: string;
  declaredUsers?: string[];
  dropsAtCutover?: { temporaryAccessEntries?: number; accessEntries?: string[]; migrationUser?: boolean };
};

type Ctx = z.core.$RefinementCtx<unknown>;

function fail(ctx: Ctx, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: "custom", path, message });
}

/** Rules that involve more than one field. Each skips itself when a value it needs is unknown. */
function crossFieldRules(inputs: MigrationInputs, ctx: Ctx): void {
  const { source, target } = inputs;
  const sourceKnown = !isUnknown(source) && !isUnknown(source?.uri) && !isUnknown(source?.cloudManager);
  const targetKnown = !isUnknown(target) && !isUnknown(target?.uri) && !isUnknown(target?.atlas);
  const engineKnown = !containsUnknown(inputs.engine) && sourceKnown && targetKnown && !containsUnknown(inputs.mongosync);
  // mongosync is given both clusters on its own command line: it needs no connection string from us, and
  // leaving them out keeps credentials out of state. Every other engine needs to know where the source is.
  const usesMongosync = engineKnown && resolveEngine(inputs) === "mongosync";
  if (sourceKnown) {
    if (source.uri !== undefined && source.cloudManager !== undefined)
      fail(ctx, ["source"], "source takes either uri or cloudManager, not both: uri for builtin/mongosync, cloudManager for atlas-push");
    if (source.uri === undefined && source.cloudManager === undefined && !usesMongosync)
      fail(ctx, ["source"], "source needs uri (the source's connection string) or cloudManager (a Cloud Manager–monitored cluster for atlas-push)");
  }
  if (targetKnown && target.uri === undefined && target.atlas === undefined && !usesMongosync)
    fail(ctx, ["target"], "target needs uri (the Atlas cluster's connection string) and/or atlas: { projectId, clusterName }");

  if (!engineKnown) return;
  const engine = resolveEngine(inputs);
  const tier = target.atlas?.tier?.toUpperCase();
  const sharedTier = tier !== undefined && !isUnknown(tier) && SHARED_TIERS.has(tier);

  if (engine === "atlas-push") {
    if (!source.cloudManager)
      fail(ctx, ["source", "cloudManager"], "engine atlas-push needs source.cloudManager { groupId, clusterName }: Atlas push migration only reads Cloud Manager–monitored clusters; use engine builtin or mongosync for a plain connection string");
    if (!target.atlas)
      fail(ctx, ["target", "atlas"], "engine atlas-push needs target.atlas { projectId, clusterName }");
    if (!inputs.atlasPush)
      fail(ctx, ["atlasPush"], "engine atlas-push needs atlasPush { orgId, migrationHost }");
    if (sharedTier)
      fail(ctx, ["target", "atlas", "tier"], `Atlas live migration does not accept ${tier} targets; use engine builtin (or "auto") for M0/flex`);
  } else {
    if (source.cloudManager && !source.uri)
      fail(ctx, ["source", "uri"], `engine ${engine} reads the source through a connection string: set source.uri (source.cloudManager is for engine atlas-push)`);
    // Removing the migration user after COMPLETE leaves no target.uri: allowed when an existing migration is
    // (being) cut over; the run itself (mode "run") still refuses if the migration is not COMPLETE yet.
    const finishing = checkMode === "update" && inputs.cutover === true;
    if (engine === "builtin" && !target.uri && !finishing)
      fail(
        ctx,
        ["target", "uri"],
        inputs.declaredBy
          ? `${inputs.declaredBy}: migrationUser is not set, and the builtin engine writes into the Atlas cluster as a database user: add migrationUser { username, password } (a secret); it may be removed once the migration is COMPLETE`
          : `engine ${engine} writes through a connection string: set target.uri (the Atlas cluster's connection string with a database user)`,
      );
  }
  const drops = inputs.dropsAtCutover;
  if (checkMode === "create" && inputs.cutover === true && drops && ((drops.temporaryAccessEntries ?? 0) > 0 || drops.migrationUser)) {
    const what = [
      (drops.temporaryAccessEntries ?? 0) > 0 ? `${drops.temporaryAccessEntries} temporary accessList entr${drops.temporaryAccessEntries === 1 ? "y" : "ies"}` : "",
      drops.migrationUser ? "the migration user" : "",
    ].filter(Boolean).join(" and ");
    fail(
      ctx,
      ["cutover"],
      `${inputs.declaredBy ?? "this migration"}: the first \`pulumi up\` already has cutover: true, but ${what} exist only while cutover is false, so the sync would run without them. ` +
        "Run the first `pulumi up` with cutover: false, then set cutover: true (a one-line PR) once the sync is READY_FOR_CUTOVER",
    );
  }
  if (engine === "mongosync") {
    if (!inputs.mongosync) fail(ctx, ["mongosync", "urls"], "engine mongosync needs mongosync.urls: the API URL of each mongosync you run");
    if (sharedTier) fail(ctx, ["target", "atlas", "tier"], `mongosync does not support ${tier} targets; use engine builtin for M0/flex`);
  }
  if (source.uri && target.uri && !containsUnknown(source.uri) && !containsUnknown(target.uri)) {
    try {
      if (deploymentIdentity(source.uri) === deploymentIdentity(target.uri))
        fail(ctx, ["target", "uri"], "target.uri points at the same deployment as source.uri; the target must be a different cluster");
    } catch {
      /* a malformed URI already has its own message */
    }
  }

  const ns = inputs.namespaces;
  if (ns && !containsUnknown(ns)) {
    for (const [i, inc] of (ns.include ?? []).entries()) {
      for (const exc of ns.exclude ?? []) {
        if (namespacePatternProblem(inc) || namespacePatternProblem(exc)) continue;
        if (patternCovers(exc, inc))
          fail(ctx, ["namespaces", "include", i], `namespaces.exclude "${exc}" removes everything namespaces.include "${inc}" asks for; drop one of the two`);
      }
    }
    const seen = new Set<string>();
    for (const [i, p] of (ns.include ?? []).entries()) {
      if (seen.has(p)) fail(ctx, ["namespaces", "include", i], `namespaces.include lists "${p}" twice; list it once`);
      seen.add(p);
    }
  }

  const wb = inputs.writeBlocking;
  if (wb && !containsUnknown(wb)) {
    if (wb.mode === "readOnlyUsers" && (wb.readOnlyUsers ?? []).length === 0)
      fail(ctx, ["writeBlocking", "readOnlyUsers"], 'writeBlocking.mode "readOnlyUsers" needs writeBlocking.readOnlyUsers: the source users the application writes with, as "user@db"');
    for (const [i, u] of (wb.readOnlyUsers ?? []).entries()) {
      if (!/^[^@\s]+@[^@\s]+$/.test(u))
        fail(ctx, ["writeBlocking", "readOnlyUsers", i], `writeBlocking.readOnlyUsers entry "${u}" must be "user@db", e.g. "app@admin"`);
    }
  }
  if (inputs.mongosync?.reversible && wb?.mode === "none")
    fail(ctx, ["mongosync", "reversible"], 'mongosync.reversible needs write blocking; set writeBlocking.mode to "auto" or drop reversible');
  mongosyncRules(inputs, ctx);
}

/** The mongosync section's own rules: reverse sync ("rollback") where mongosync allows it, pre-6.0 sources. */
function mongosyncRules(inputs: MigrationInputs, ctx: Ctx): void {
  const m = inputs.mongosync;
  if (!m || containsUnknown(m)) return;
  const major = m.sourceServerVersion ? Number(/^(\d+)\./.exec(m.sourceServerVersion.trim())?.[1]) : undefined;
  const preSix = major !== undefined && major < 6;
  if (m.reversible && preSix)
    fail(ctx, ["mongosync", "reversible"], `mongosync cannot reverse a sync from a MongoDB ${m.sourceServerVersion} source (reverse needs 6.0+); drop reversible`);
  if (m.reversible && (m.sharding?.entries.length ?? 0) > 0)
    fail(ctx, ["mongosync", "reversible"], "mongosync cannot reverse a replica set → sharded cluster sync (mongosync.sharding is set); drop reversible or sharding");
  if (m.rollback && !m.reversible)
    fail(ctx, ["mongosync", "rollback"], "mongosync.rollback needs mongosync.reversible: true from the start (mongosync cannot make a running sync reversible)");
  if (m.rollback && !containsUnknown(inputs.namespaces) && ((inputs.namespaces?.include?.length ?? 0) > 0 || (inputs.namespaces?.exclude?.length ?? 0) > 0))
    fail(ctx, ["mongosync", "rollback"], "mongosync cannot reverse a filtered sync (namespaces is set)");
  if (m.rollback && inputs.cutover !== true && !isUnknown(inputs.cutover))
    fail(ctx, ["mongosync", "rollback"], "mongosync.rollback reverses a COMPLETE migration: keep cutover: true (the rollback comes after the cutover)");
  if (m.rollbackCutover && !m.rollback)
    fail(ctx, ["mongosync", "rollbackCutover"], "mongosync.rollbackCutover commits a rollback: set mongosync.rollback: true first (and let it catch up)");
}

/** Hosts + replica set / SRV name, credentials and options left out: "which deployment is this?" */
export function deploymentIdentity(uri: string): string {
  const parsed = parseMongoUri(uri);
  return JSON.stringify([parsed.srvHost ?? parsed.hosts, parsed.replicaSet ?? null]);
}

/** `auto` ⇒ M0/flex target: builtin; Cloud Manager source: atlas-push; mongosync URLs given: mongosync; else builtin. */
export function resolveEngine(inputs: Pick<MigrationInputs, "engine" | "source" | "target" | "mongosync">): EngineName {
  const requested = inputs.engine ?? "auto";
  if (requested !== "auto") return requested;
  const tier = inputs.target?.atlas?.tier?.toUpperCase();
  if (tier && SHARED_TIERS.has(tier)) return "builtin";
  if (inputs.source?.cloudManager) return "atlas-push";
  if (inputs.mongosync?.urls?.length) return "mongosync";
  return "builtin";
}

// ---------------------------------------------------------------------------------------------------------
// check

export interface CheckFailure {
  property: string;
  reason: string;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

function propertyName(path: PropertyKey[]): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === "number") return `${acc}[${key}]`;
    return acc ? `${acc}.${String(key)}` : String(key);
  }, "");
}

const KNOWN_KEYS = [
  "engine", "source", "target", "namespaces", "cutover", "verificationMode", "writeBlocking", "timeouts",
  "builtin", "atlasPush", "mongosync", "uri", "cloudManager", "atlas", "include", "exclude", "mode",
  "readOnlyUsers", "quietSeconds", "acknowledgeWriteBlockingBypass", "createMinutes", "cutoverMinutes", "pollSeconds",
  "readyLagSeconds", "cutoverReadiness", "maxLagSeconds", "maxStatusAgeMinutes", "requireVerification",
  "atlasCredentials", "declaredBy", "declaredUsers", "dropsAtCutover", "sync",
];

function suggestion(key: string): string {
  const lower = key.toLowerCase();
  const match = KNOWN_KEYS.find((k) => k.toLowerCase() === lower);
  return match ? `; did you mean "${match}"?` : "";
}

// Wrong types. zod's own messages ("Invalid input: expected object, received string") name neither the shape a
// field takes nor the fix, so every issue zod phrased itself is said again here, in the user's terms: what the
// field must be, an example, and where the intent is plain (writeBlocking: "none") what to write instead.
const ZOD_PHRASED = /^(Invalid input|Invalid option|Invalid element|Invalid key|Invalid union|Too small|Too big|Unrecognized key)/;

/** One example of each field that takes an object or a list, as a user would write it. */
const EXAMPLES: Record<string, string> = {
  source: '{ uri: "mongodb://user:password@host:27017/?replicaSet=rs0" }',
  "source.cloudManager": '{ groupId: "<24-hex project id>", clusterName: "rs0" }',
  target: '{ uri: "mongodb+srv://user:password@cluster0.example.mongodb.net", atlas: { projectId, clusterName } }',
  "target.atlas": '{ projectId: "<24-hex project id>", clusterName: "Cluster0" }',
  namespaces: '{ include: ["sales.orders", "crm.*"] }',
  "namespaces.include": '["sales.orders", "crm.*"]',
  "namespaces.exclude": '["sales.tmp_*"]',
  writeBlocking: '{ mode: "auto" }',
  "writeBlocking.readOnlyUsers": '["app@admin"]',
  timeouts: "{ createMinutes: 20, cutoverMinutes: 30 }",
  builtin: '{ sync: "snapshot" }',
  "builtin.acknowledgeWriteBlockingBypass": '["root@admin"]',
  atlasPush: '{ orgId: "<24-hex organization id>", migrationHost: "<migration host>" }',
  "atlasPush.linkTokenAccessListIps": '["203.0.113.7"]',
  "atlasPush.sharding": "{ entries: [...] }",
  mongosync: '{ urls: ["http://10.0.0.5:27182"] }',
  "mongosync.urls": '["http://10.0.0.5:27182"]',
  "mongosync.sharding": "{ entries: [...] }",
  cutoverReadiness: '{ maxLagSeconds: 60, requireVerification: "full" }',
  atlasCredentials: "{ publicKey, privateKey } or { clientId, clientSecret }",
  declaredUsers: '["app@admin"]',
  dropsAtCutover: "{ temporaryAccessEntries: 1, migrationUser: true }",
  "dropsAtCutover.accessEntries": '["0.0.0.0/0"]',
};

const WRITE_BLOCKING_MODES = ["auto", "setUserWriteBlockMode", "readOnlyUsers", "none"];
const BUILTIN_SYNC = ["auto", "continuous", "snapshot"];

function described(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

function expectedWords(expected: unknown): string {
  switch (expected) {
    case "object": return "an object";
    case "array": return "a list";
    case "boolean": return "true or false";
    case "int": return "a whole number";
    case "number": return "a number";
    case "string": return "a string";
    default: return String(expected ?? "something else");
  }
}

/** "write X instead" for a value whose intent is plain; never echoes a connection string (it may hold a password). */
function writeInstead(property: string, value: unknown): string {
  const strings = Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string") ? (value as string[]) : undefined;
  if (property === "writeBlocking" && typeof value === "string" && WRITE_BLOCKING_MODES.includes(value)) return `; write writeBlocking: { mode: "${value}" }`;
  if (property === "builtin" && typeof value === "string" && BUILTIN_SYNC.includes(value)) return `; write builtin: { sync: "${value}" }`;
  if (property === "mongosync" && typeof value === "string" && /^https?:\/\/[^\s@]+$/.test(value)) return `; write mongosync: { urls: ["${value}"] }`;
  if (property === "mongosync" && strings) return "; put the URLs in mongosync: { urls: [...] }";
  if (property === "namespaces" && strings) return "; put the patterns in namespaces: { include: [...] } (or exclude)";
  if ((property === "source" || property === "target") && typeof value === "string") return `; write ${property}: { uri: <the connection string> }`;
  return "";
}

/** The failure message for an issue zod phrased itself. */
function inUserTerms(issue: z.core.$ZodIssue, property: string, value: unknown): string {
  const example = EXAMPLES[property];
  if (value === undefined) {
    return `${property} is missing: it must be ${expectedWords((issue as { expected?: unknown }).expected)}${example ? `, e.g. ${example}` : ""}`;
  }
  if (issue.code === "invalid_value") {
    const values = (issue as { values?: unknown[] }).values ?? [];
    return `${property} must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}`;
  }
  const expected = issue.code === "invalid_type" ? expectedWords(issue.expected) : "something else";
  return `${property} must be ${expected}${example ? ` such as ${example}` : ""}, not ${described(value)}${writeInstead(property, value)}`;
}

/**
 * Validation failures of the inputs, one per problem, each naming the property. Never throws.
 * `olds` are the previous inputs as `check` receives them: `{}` before a create, the stored inputs before an
 * update; leave it out when validating for a run (create/update about to drive the sync).
 */
export function validateInputs(news: Record<string, unknown>, olds?: Record<string, unknown>): CheckFailure[] {
  if (news === null || typeof news !== "object" || Array.isArray(news)) {
    return [{ property: "inputs", reason: "the Migration inputs must be an object with source and target" }];
  }
  const { __provider: _ignored, ...inputs } = news;
  const mode: CheckMode = olds === undefined ? "run" : Object.keys(olds).filter((k) => k !== "__provider").length === 0 ? "create" : "update";
  let result: ReturnType<typeof migrationInputsSchema.safeParse>;
  checkMode = mode;
  try {
    result = migrationInputsSchema.safeParse(inputs);
  } finally {
    checkMode = "run";
  }
  if (result.success) return [];
  const failures: CheckFailure[] = [];
  for (const issue of result.error.issues) {
    // A rule about a value that is not known yet (preview) is not a failure: it runs again at `pulumi up`.
    const unknownOnPath = issue.path.some((_, i) => isUnknown(valueAt(inputs, issue.path.slice(0, i + 1))));
    if (unknownOnPath || isUnknown(valueAt(inputs, issue.path))) continue;
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const property = propertyName([...issue.path, key]);
        failures.push({ property, reason: `unknown property "${property}"${suggestion(key)}; remove it or fix its name` });
      }
      continue;
    }
    const property = propertyName(issue.path) || "inputs";
    const reason = ZOD_PHRASED.test(issue.message) ? inUserTerms(issue, property, valueAt(inputs, issue.path)) : issue.message;
    failures.push({ property, reason: redact(reason) });
  }
  return failures;
}

/**
 * Inputs that walk the schema's main paths, valid and not: a URI → URI migration, a Cloud Manager source into
 * an Atlas cluster, and one with wrong values (the failure paths format their issues).
 */
const WARM_UP_INPUTS: Array<Record<string, unknown>> = [
  { resourceName: "warm-up", source: { uri: "mongodb://user:pw@src.example.com:27017/?replicaSet=rs0" }, target: { uri: "mongodb+srv://m:pw@c.abcde.mongodb.net/" }, cutover: false },
  {
    resourceName: "warm-up",
    engine: "atlas-push",
    source: { cloudManager: { groupId: "0123456789abcdef01234567", clusterName: "src" } },
    target: { atlas: { projectId: "0123456789abcdef01234567", clusterName: "dst", tier: "M10" } },
    namespaces: { include: ["shop.*"], exclude: ["shop.tmp"] },
  },
  // Wrong values that need no driver (a URI the plain parser cannot read loads the mongodb driver: not here).
  { resourceName: 1, source: { uri: "" }, target: {}, cutover: "yes", unknownKey: true },
];

let validationPrepared = false;

/**
 * Pays validation's one-time costs ahead of the first `check`: zod 4 compiles an object schema's parser on its
 * first parse, and the first failures build their messages. The runtime calls this from `configure`, which the
 * dynamic-provider host runs right after deserializing the provider and before its first `check`
 * (@pulumi/pulumi cmd/dynamic-provider/index.js getProvider); the module itself loads there too.
 */
export function prepareValidation(): void {
  if (validationPrepared) return;
  validationPrepared = true;
  for (const inputs of WARM_UP_INPUTS) validateInputs(inputs, {});
}

// ---------------------------------------------------------------------------------------------------------
// Inputs → MigrationSpec

export const DEFAULTS = {
  createMinutes: 20,
  cutoverMinutes: 30,
  pollSeconds: 10,
  readyLagSeconds: 10,
  batchBytes: 8 * 1024 * 1024,
  parallelCollections: 4,
  partitionDocuments: 200_000,
  replayBatchSize: 500,
  quietSeconds: 30,
};

/** A stable id for this migration: the resource name plus what it moves, never a credential. */
export function migrationIdFor(inputs: MigrationInputs): string {
  const engine = resolveEngine(inputs);
  const identity = {
    engine,
    source: inputs.source.uri ? deploymentIdentity(inputs.source.uri) : inputs.source.cloudManager && {
      groupId: inputs.source.cloudManager.groupId,
      clusterName: inputs.source.cloudManager.clusterName,
    },
    target: inputs.target.uri ? deploymentIdentity(inputs.target.uri) : inputs.target.atlas && {
      projectId: inputs.target.atlas.projectId,
      clusterName: inputs.target.atlas.clusterName,
    },
    namespaces: normalizedNamespaces(inputs),
    mongosync: engine === "mongosync" ? [...(inputs.mongosync?.urls ?? [])].sort() : undefined,
  };
  const digest = crypto.createHash("sha256").update(JSON.stringify(identity)).digest("hex").slice(0, 12);
  const name = (inputs.resourceName ?? "migration").replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40);
  return `${name}-${digest}`;
}

export function normalizedNamespaces(inputs: Pick<MigrationInputs, "namespaces">): NamespaceFilter {
  return {
    include: [...(inputs.namespaces?.include ?? [])].sort(),
    exclude: [...(inputs.namespaces?.exclude ?? [])].sort(),
  };
}

export function toSpec(inputs: MigrationInputs): MigrationSpec {
  const engine = resolveEngine(inputs);
  const t = inputs.timeouts ?? {};
  const b = inputs.builtin ?? {};
  const wb = inputs.writeBlocking ?? {};
  const spec: MigrationSpec = {
    migrationId: migrationIdFor(inputs),
    resourceName: inputs.resourceName ?? "migration",
    engine,
    source: { ...inputs.source },
    target: { ...inputs.target },
    namespaces: normalizedNamespaces(inputs),
    // Atlas push verifies inside its own cutover and this package cannot read either side's data there.
    verification: inputs.verificationMode ?? (engine === "atlas-push" ? "none" : "full"),
    writeBlocking: wb.mode ?? "auto",
    timeouts: {
      createSeconds: (t.createMinutes ?? DEFAULTS.createMinutes) * 60,
      cutoverSeconds: (t.cutoverMinutes ?? DEFAULTS.cutoverMinutes) * 60,
      pollSeconds: t.pollSeconds ?? DEFAULTS.pollSeconds,
      readyLagSeconds: t.readyLagSeconds ?? DEFAULTS.readyLagSeconds,
    },
    builtin: {
      batchBytes: b.batchBytes ?? DEFAULTS.batchBytes,
      parallelCollections: b.parallelCollections ?? DEFAULTS.parallelCollections,
      partitionDocuments: b.partitionDocuments ?? DEFAULTS.partitionDocuments,
      replayBatchSize: b.replayBatchSize ?? DEFAULTS.replayBatchSize,
      readOnlyUsers: wb.readOnlyUsers ?? [],
      quietSeconds: wb.quietSeconds ?? DEFAULTS.quietSeconds,
      detachedWorker: b.detachedWorker ?? false,
      acknowledgedBypassUsers: b.acknowledgeWriteBlockingBypass ?? [],
      sync: b.sync ?? "auto",
    },
  };
  if (inputs.atlasCredentials) spec.atlasCredentials = { ...inputs.atlasCredentials };
  if (inputs.declaredUsers) spec.declaredUsers = [...inputs.declaredUsers];
  if (inputs.atlasPush) {
    const a = inputs.atlasPush;
    spec.atlasPush = {
      orgId: a.orgId,
      migrationHost: a.migrationHost,
      dropDestinationData: a.dropDestinationData ?? false,
      createLinkToken: a.createLinkToken ?? false,
      linkTokenAccessListIps: a.linkTokenAccessListIps,
      hostnameSchemaType: a.hostnameSchemaType,
      adoptLiveMigrationId: a.adoptLiveMigrationId,
      privateLinkId: a.privateLinkId,
      sharding: a.sharding && {
        createSupportingIndexes: a.sharding.createSupportingIndexes ?? true,
        entries: a.sharding.entries,
      },
    };
  }
  if (inputs.mongosync) {
    const m = inputs.mongosync;
    spec.mongosync = {
      urls: m.urls,
      reversible: m.reversible ?? false,
      enableVerification: m.enableVerification ?? true,
      version: m.version,
      sharding: m.sharding && {
        createSupportingIndexes: m.sharding.createSupportingIndexes ?? true,
        entries: m.sharding.entries,
      },
      sourceServerVersion: m.sourceServerVersion,
      keepPaused: m.keepPaused ?? false,
      rollback: m.rollbackCutover ? "commit" : m.rollback ? "reverse" : "none",
    };
  }
  return spec;
}
