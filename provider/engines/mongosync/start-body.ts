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
  | "sourceAndDestination" // mongosync blocks source writes when /commit arrives (≤1.19, dual)
  | "destinationOnly" // mongosync protects only the destination; the user stops the application
  | "legacyDual" // ≤1.10 `enableUserWriteBlocking: true`
  | "off" // ≤1.10 default: nothing blocked; the user stops the application
  | "managedByMongosync" // 1.20+: the field no longer exists
  | "unknownVersion"; // field omitted because the version is unknown

export interface StartPlan {
  body: StartRequestBody;
  writeBlocking: WriteBlockingPlan;
  errors: PreflightFinding[];
  warnings: PreflightFinding[];
}

const VERSION_ACTION =
  "set mongosync.version to what `mongosync --version` prints on the mongosync host (the HTTP API " +
  "does not report it)";

/**
 * Builds the /start body for `version` (undefined when unknown) and lists what cannot be done safely.
 * The engine runs the same function at preflight (to report) and at start (to send).
 */
export function planStart(spec: MigrationSpec, version: MongosyncVersion | undefined): StartPlan {
  const options = spec.mongosync!;
  const errors: PreflightFinding[] = [];
  const warnings: PreflightFinding[] = [];
  const body: StartRequestBody = { source: "cluster0", destination: "cluster1" };
  const needs = (major: number, minor: number, what: string, code: string) => {
    if (version && !atLeast(version, major, minor)) {
      errors.push({ code, message: `${what} needs mongosync ${major}.${minor} or later; this one is ${version.text}`, action: "upgrade mongosync, or remove the setting" });
    }
  };

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

  // Reversible.
  if (options.reversible) {
    body.reversible = true;
    if (filtered) {
      errors.push({
        code: "MONGOSYNC_REVERSIBLE_FILTERED",
        message: "mongosync cannot reverse a filtered sync (namespaces is set)",
        action: "remove namespaces, or set mongosync.reversible: false",
      });
    }
  }

  // Sharding entries (RS → sharded).
  if (options.sharding && options.sharding.entries.length > 0) {
    needs(1, 1, "mongosync.sharding", "MONGOSYNC_VERSION_TOO_OLD");
    for (const entry of options.sharding.entries) {
      if (!entry.database || !entry.collection || entry.key.length === 0) {
        errors.push({
          code: "MONGOSYNC_SHARDING_ENTRY",
          message: `mongosync.sharding entry ${JSON.stringify(`${entry.database}.${entry.collection}`)} needs a database, a collection and a shard key`,
          action: "give every entry { database, collection, key: [{ field: 1 }] }",
        });
      }
    }
    body.sharding = { createSupportingIndexes: options.sharding.createSupportingIndexes, shardingEntries: options.sharding.entries.map(shardingEntryBody) };
  }

  // Embedded verifier: on by default from 1.9; the field does not exist before.
  if (!version || atLeast(version, 1, 9)) {
    if (!options.enableVerification) body.verification = { enabled: false };
    else if (version) body.verification = { enabled: true };
    // Unknown version and verifier wanted: omit the field (the default is on), so an old mongosync accepts it.
  } else if (options.enableVerification && spec.verification !== "none") {
    warnings.push({
      code: "MONGOSYNC_NO_VERIFIER",
      message: `mongosync ${version.text} has no embedded verifier (1.9+); cutover cannot report a verification`,
      action: "upgrade mongosync, or verify the data yourself before switching the application",
    });
  }
  if (!options.enableVerification && spec.verification !== "none") {
    warnings.push({
      code: "MONGOSYNC_VERIFIER_DISABLED",
      message: "mongosync's embedded verifier is disabled (mongosync.enableVerification: false); cutover will report verification \"none\"",
      action: "set mongosync.enableVerification: true, or verify the data yourself before switching the application",
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
  if (!version) {
    writeBlocking = "unknownVersion";
    // Without the version we cannot send the field (1.20+ refuses it) and without it 1.11–1.19 would not
    // block source writes at commit: refuse rather than promise a write block that may not happen.
    if (wantsSourceBlocked || options.reversible) {
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
    writeBlocking = wantsSourceBlocked || options.reversible ? "sourceAndDestination" : "destinationOnly";
    body.enableUserWriteBlocking = writeBlocking;
    if (options.reversible && !wantsSourceBlocked) {
      warnings.push({
        code: "MONGOSYNC_REVERSIBLE_NEEDS_DUAL_BLOCKING",
        message: "mongosync.reversible needs write blocking on source and destination; it will be enabled despite writeBlocking.mode \"none\"",
        action: "set writeBlocking.mode \"auto\" to make this explicit, or mongosync.reversible: false",
      });
    }
  } else {
    writeBlocking = wantsSourceBlocked || options.reversible ? "legacyDual" : "off";
    if (writeBlocking === "legacyDual") body.enableUserWriteBlocking = true;
  }
  if (writeBlocking === "destinationOnly" || writeBlocking === "off") {
    warnings.push({
      code: "MONGOSYNC_SOURCE_WRITES_NOT_BLOCKED",
      message: "mongosync will not block source writes at commit (writeBlocking.mode \"none\")",
      action: "stop application writes to the source before setting cutover: true; writes during commit can be lost",
    });
  }

  return { body, writeBlocking, errors, warnings };
}
