// The body of POST /api/v1/start, shaped for the mongosync version that will receive it.
//
// mongosync's /start fields changed across versions (reference §3.3, §3.7): includeNamespaces arrived in 1.1,
// excludeNamespaces in 1.6, verification in 1.9, the string values of enableUserWriteBlocking in 1.11, and
// 1.20 removed enableUserWriteBlocking altogether (mongosync decides write blocking itself). Sending a field a
// version does not know is refused, so the body is built from the version, and every combination we cannot
// make safe becomes a preflight finding instead of a surprise at /start.
import type { MigrationSpec, PreflightFinding, ShardingEntry } from "../engine";
import type { NamespaceFilterItem, StartRequestBody } from "./types";

export interface MongosyncVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

/** "1.19.0", "v1.22.1", "mongosync 1.20.0-rc1" → {1, 20, 0}. Undefined when no x.y version is in the text. */
export function parseMongosyncVersion(text: string | undefined | null): MongosyncVersion | undefined {
  if (!text) return undefined;
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0), text: text.trim() };
}

/** version ≥ major.minor */
export function atLeast(version: MongosyncVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}

/**
 * `db.coll` / `db.*` patterns → mongosync filter items, one per database: `db.*` becomes `{database}` (every
 * collection), otherwise `{database, collections: [...]}`. The collection is everything after the first dot
 * (collection names may contain dots; database names may not).
 */
export function toNamespaceFilter(patterns: string[], property: string): { items: NamespaceFilterItem[]; errors: PreflightFinding[] } {
  const wholeDatabases = new Set<string>();
  const collections = new Map<string, Set<string>>();
  const errors: PreflightFinding[] = [];
  for (const pattern of patterns) {
    const dot = pattern.indexOf(".");
    const database = dot > 0 ? pattern.slice(0, dot) : "";
    const collection = dot > 0 ? pattern.slice(dot + 1) : "";
    if (!database || !collection || database.includes("*") || (collection.includes("*") && collection !== "*")) {
      errors.push({
        code: "MONGOSYNC_NAMESPACE_PATTERN",
        message: `${property}: ${JSON.stringify(pattern)} is not a namespace mongosync can filter on`,
        action: `write "db.collection" or "db.*" (a whole database)`,
      });
      continue;
    }
    if (collection === "*") wholeDatabases.add(database);
    else {
      if (!collections.has(database)) collections.set(database, new Set());
      collections.get(database)!.add(collection);
    }
  }
  const databases = [...new Set([...wholeDatabases, ...collections.keys()])].sort();
  const items = databases.map((database): NamespaceFilterItem =>
    wholeDatabases.has(database) ? { database } : { database, collections: [...collections.get(database)!].sort() },
  );
  return { items, errors };
}

function shardingEntryBody(entry: ShardingEntry) {
  return { database: entry.database, collection: entry.collection, shardCollection: { key: entry.key } };
}

/** How source writes get blocked at commit, as we tell the user (and store in the handle). */
export type WriteBlockingPlan =
  | "sourceAndDestination" // mongosync blocks source writes when /commit arrives (1.11: `true`; 1.12–1.19: the string)
  | "destinationOnly" // mongosync protects only the destination; the user stops the application
  | "legacyDual" // ≤1.10 `enableUserWriteBlocking: true`
  | "off" // ≤1.10 default: nothing blocked; the user stops the application
  | "managedByMongosync" // 1.20+: the field no longer exists
  | "unknownVersion"; // field omitted because the version is unknown

/**
 * Who verifies the data at cutover:
 * - embedded: mongosync's verifier (1.9+, enabled, not a 1.9 migration with a sharded cluster)
 * - ours: mongosync will not verify, so the engine compares counts (and hashes) through source.uri/target.uri
 * - none: nobody (verificationMode "none")
 * - unknown: the version is unknown; decided from what /progress shows before /commit
 */
export type VerifierPlan = "embedded" | "ours" | "none" | "unknown";

export interface StartPlan {
  body: StartRequestBody;
  writeBlocking: WriteBlockingPlan;
  verifier: VerifierPlan;
  /** Why mongosync's own verifier will not run, when it will not. */
  noEmbeddedVerifierReason?: string;
  errors: PreflightFinding[];
  warnings: PreflightFinding[];
}

const VERSION_ACTION =
  "set mongosync.version to what `mongosync --version` prints on the mongosync host (the HTTP API " +
  "does not report it)";

/** MongoDB major of `mongosync.sourceServerVersion`; undefined when not given (assumed 6.0+). */
export function sourceMajor(spec: MigrationSpec): number | undefined {
  const text = spec.mongosync?.sourceServerVersion;
  const match = text ? /^(\d+)\./.exec(text.trim()) : null;
  return match ? Number(match[1]) : undefined;
}

/**
 * Why mongosync's embedded verifier will not run for this spec and version, or undefined when it will.
 * Sources: v1.9 fact-verifier-limitations.rst (none before 1.9; 1.9 disables it when a sharded cluster takes
 * part — gone from v1.10, which enables it on sharded clusters).
 */
export function noEmbeddedVerifier(spec: MigrationSpec, version: MongosyncVersion | undefined, instances: number): string | undefined {
  const options = spec.mongosync!;
  if (!options.enableVerification) return "mongosync's embedded verifier is disabled (mongosync.enableVerification: false)";
  if (!version) return undefined;
  if (!atLeast(version, 1, 9)) return `mongosync ${version.text} has no embedded verifier (it arrived in 1.9)`;
  const sharded = instances > 1 || (options.sharding?.entries.length ?? 0) > 0;
  if (!atLeast(version, 1, 10) && sharded) return `mongosync ${version.text} disables its verifier when a sharded cluster takes part (1.10 lifted that)`;
  return undefined;
}

/**
 * Builds the /start body for `version` (undefined when unknown) and lists what cannot be done safely.
 * The engine runs the same function at preflight (to report) and at start (to send).
 */
export function planStart(spec: MigrationSpec, version: MongosyncVersion | undefined, instances = spec.mongosync?.urls.length ?? 1): StartPlan {
  const options = spec.mongosync!;
  const errors: PreflightFinding[] = [];
  const warnings: PreflightFinding[] = [];
  const body: StartRequestBody = { source: "cluster0", destination: "cluster1" };
  const needs = (major: number, minor: number, what: string, code: string) => {
    if (version && !atLeast(version, major, minor)) {
      errors.push({ code, message: `${what} needs mongosync ${major}.${minor} or later; this one is ${version.text}`, action: "upgrade mongosync, or remove the setting" });
    }
  };
  const major = sourceMajor(spec);
  const preSixSource = major !== undefined && major < 6;

  // Namespaces.
  const include = toNamespaceFilter(spec.namespaces.include, "namespaces.include");
  const exclude = toNamespaceFilter(spec.namespaces.exclude, "namespaces.exclude");
  errors.push(...include.errors, ...exclude.errors);
  if (include.items.length > 0) {
    body.includeNamespaces = include.items;
    needs(1, 1, "namespaces.include", "MONGOSYNC_VERSION_TOO_OLD");
  }
  if (exclude.items.length > 0) {
    body.excludeNamespaces = exclude.items;
    needs(1, 6, "namespaces.exclude", "MONGOSYNC_VERSION_TOO_OLD");
  }
  const filtered = include.items.length > 0 || exclude.items.length > 0;
  const shardingEntries = options.sharding?.entries ?? [];

  // Reversible: refused where mongosync refuses it (docs reference/api/start.txt `reversible`, reverse.txt).
  if (options.reversible) {
    body.reversible = true;
    if (filtered) {
      errors.push({ code: "MONGOSYNC_REVERSIBLE_FILTERED", message: "mongosync cannot reverse a filtered sync (namespaces is set)", action: "remove namespaces, or set mongosync.reversible: false" });
    }
    if (shardingEntries.length > 0) {
      errors.push({
        code: "MONGOSYNC_REVERSIBLE_RS_TO_SHARDED",
        message: "mongosync cannot reverse a replica set → sharded cluster sync (mongosync.sharding is set)",
        action: "remove mongosync.sharding, or set mongosync.reversible: false",
      });
    }
    if (preSixSource) {
      errors.push({
        code: "MONGOSYNC_REVERSIBLE_PRE_6_0",
        message: `mongosync cannot reverse a sync from a MongoDB ${options.sourceServerVersion} source (reverse needs 6.0 or later)`,
        action: "upgrade the source to 6.0+, or set mongosync.reversible: false",
      });
    }
  }

  // Sharding entries (RS → sharded).
  if (shardingEntries.length > 0) {
    needs(1, 1, "mongosync.sharding", "MONGOSYNC_VERSION_TOO_OLD");
    for (const entry of shardingEntries) {
      const keyOk = entry.key.length > 0 && entry.key.every((k) => Object.values(k).every((d) => d === 1 || d === "hashed"));
      if (!entry.database || !entry.collection || !keyOk) {
        errors.push({
          code: "MONGOSYNC_SHARDING_ENTRY",
          message: `mongosync.sharding entry ${JSON.stringify(`${entry.database}.${entry.collection}`)} needs a database, a collection and a shard key of 1 or "hashed" fields`,
          action: "give every entry { database, collection, key: [{ field: 1 }] } (MongoDB shard keys are ascending or hashed, never -1)",
        });
      }
    }
    body.sharding = { createSupportingIndexes: options.sharding!.createSupportingIndexes, shardingEntries: shardingEntries.map(shardingEntryBody) };
  }

  // Embedded verifier: the `verification` field exists from 1.9 (v1.9 start.txt). Never sent when the version
  // is unknown: an older mongosync refuses the field.
  if (version && atLeast(version, 1, 9)) body.verification = { enabled: options.enableVerification };
  else if (!version && !options.enableVerification) {
    warnings.push({
      code: "MONGOSYNC_VERIFIER_NOT_DISABLED",
      message: "mongosync.enableVerification: false cannot be passed on without the mongosync version (the field is 1.9+)",
      action: `${VERSION_ACTION}, or start mongosync with --disableVerification (1.10+)`,
    });
  }
  const noVerifier = noEmbeddedVerifier(spec, version, instances);
  let verifier: VerifierPlan;
  if (spec.verification === "none") verifier = "none";
  else if (!version && options.enableVerification) verifier = "unknown";
  else if (!noVerifier) verifier = "embedded";
  else if (spec.source.uri && spec.target.uri) {
    verifier = "ours";
    warnings.push({
      code: "MONGOSYNC_OUR_VERIFICATION",
      message: `${noVerifier}; after the commit the engine compares the clusters itself (verificationMode "${spec.verification}") through source.uri and target.uri`,
      action: "let `pulumi up` reach both clusters; large clusters take a while to hash (verificationMode \"counts\" is quicker)",
    });
  } else {
    verifier = "none";
    errors.push({
      code: "MONGOSYNC_CANNOT_VERIFY",
      message: `${noVerifier}, and without source.uri and target.uri the engine cannot verify either, but verificationMode is "${spec.verification}"`,
      action: "give source.uri and target.uri (the engine then compares counts and hashes after the commit), upgrade mongosync / enable its verifier, or set verificationMode \"none\" and verify the data yourself",
    });
  }

  // Write blocking.
  let writeBlocking: WriteBlockingPlan;
  if (spec.writeBlocking === "readOnlyUsers") {
    errors.push({
      code: "MONGOSYNC_WRITE_BLOCKING_UNSUPPORTED",
      message: "writeBlocking.mode \"readOnlyUsers\" is done by the builtin engine only; mongosync blocks writes itself",
      action: "use writeBlocking.mode \"auto\" (mongosync blocks source writes at commit) or \"none\" (you stop the application)",
    });
  }
  const wantsSourceBlocked = spec.writeBlocking !== "none";
  const dual = wantsSourceBlocked || options.reversible;
  if (preSixSource && dual && !(version && atLeast(version, 1, 20))) {
    // setUserWriteBlockMode is 6.0+; mongosync refuses dual blocking (v1.10/v1.11 start.txt) or any value
    // (v1.12+ start.txt) for pre-6.0 sources.
    errors.push({
      code: "MONGOSYNC_WRITE_BLOCKING_PRE_6_0",
      message: `mongosync cannot block writes on a MongoDB ${options.sourceServerVersion} source (write blocking needs 6.0+)`,
      action: "set writeBlocking.mode \"none\" and stop the application before cutover: true",
    });
  }
  if (!version) {
    writeBlocking = "unknownVersion";
    // Without the version we cannot send the field (1.20+ refuses it) and without it 1.11–1.19 would not
    // block source writes at commit: refuse rather than promise a write block that may not happen.
    if (dual) {
      errors.push({
        code: "MONGOSYNC_VERSION_UNKNOWN",
        message: "the mongosync version is unknown, so the engine cannot tell whether mongosync will block source writes at commit",
        action: `${VERSION_ACTION}; or set writeBlocking.mode "none" and stop the application yourself before cutover`,
      });
    }
  } else if (atLeast(version, 1, 20)) {
    writeBlocking = "managedByMongosync";
    if (spec.writeBlocking === "none") {
      warnings.push({
        code: "MONGOSYNC_WRITE_BLOCKING_MANAGED",
        message: `mongosync ${version.text} decides write blocking itself (1.20+); writeBlocking.mode "none" cannot be passed on`,
        action: "expect mongosync to block writes as its configuration says; stop the application before cutover in any case",
      });
    }
  } else if (atLeast(version, 1, 11)) {
    writeBlocking = dual && !preSixSource ? "sourceAndDestination" : "destinationOnly";
    // Pre-6.0 sources: 1.12–1.19 refuse the field whatever its value; omitted, mongosync uses its default.
    if (!preSixSource) {
      // 1.11 knows only true / false / "destinationOnly" (v1.11 start.txt); "sourceAndDestination" is 1.12.
      body.enableUserWriteBlocking = writeBlocking === "sourceAndDestination" ? (atLeast(version, 1, 12) ? "sourceAndDestination" : true) : "destinationOnly";
    }
    if (options.reversible && !wantsSourceBlocked) {
      warnings.push({
        code: "MONGOSYNC_REVERSIBLE_NEEDS_DUAL_BLOCKING",
        message: "mongosync.reversible needs write blocking on source and destination; it will be enabled despite writeBlocking.mode \"none\"",
        action: "set writeBlocking.mode \"auto\" to make this explicit, or mongosync.reversible: false",
      });
    }
  } else {
    writeBlocking = dual && !preSixSource ? "legacyDual" : "off";
    if (writeBlocking === "legacyDual") body.enableUserWriteBlocking = true;
  }
  if (writeBlocking === "destinationOnly" || writeBlocking === "off") {
    warnings.push({
      code: "MONGOSYNC_SOURCE_WRITES_NOT_BLOCKED",
      message: `mongosync will not block source writes at commit (${preSixSource ? `a MongoDB ${options.sourceServerVersion} source` : 'writeBlocking.mode "none"'})`,
      action: "stop application writes to the source before setting cutover: true; writes during commit can be lost",
    });
  }

  return { body, writeBlocking, verifier, noEmbeddedVerifierReason: noVerifier, errors, warnings };
}
