// Preflight of the built-in engine: reads both clusters, changes nothing, and says what will go wrong before it
// does. Every finding carries a stable code, what is wrong, and what to do.
import { capabilitiesOf, checkWriteBlocking, chooseCaptureMode, describeCapabilities } from "../../cluster/capabilities";
import { CHECKPOINT_DATABASE, type ClusterPort, type CollectionInfo } from "../../cluster/port";
import type { MigrationSpec, PreflightFinding, PreflightReport } from "../engine";
import { isSystemCollection, namespaceMatcher, nsString } from "./namespaces";
import { STATE_KEY } from "./state";
import { SOURCE_ACTIONS, TARGET_ACTIONS, missingActions, type RunShape } from "./privileges";
import { undeclaredUserWarnings } from "./users";
import { chooseWriteBlocking, findUsers, writeBlockingBypass } from "./writeblock";

/** Storage limits of the shared tiers a builtin migration typically targets. */
export const TIER_LIMIT_BYTES: Record<string, number> = {
  M0: 512 * 1024 * 1024,
  M2: 2 * 1024 * 1024 * 1024,
  M5: 5 * 1024 * 1024 * 1024,
  FLEX: 5 * 1024 * 1024 * 1024,
};

/** Assumed copy throughput when estimating copy time; override with ATLAS_MIGRATE_COPY_MBPS. */
export const DEFAULT_COPY_MB_PER_SECOND = 20;

/** Copies estimated shorter than this are not compared with the oplog window. */
export const MIN_COPY_SECONDS_TO_CHECK = 10;

export function copyMbPerSecond(): number {
  const fromEnv = Number(process.env.ATLAS_MIGRATE_COPY_MBPS);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_COPY_MB_PER_SECOND;
}

/** "7.0.14" → [7, 0]. */
export function majorMinor(version: string): [number, number] {
  const [a, b] = version.split(".").map((x) => parseInt(x, 10));
  return [Number.isFinite(a) ? a : 0, Number.isFinite(b) ? b : 0];
}

/** A connection-string option's value (option names are case-insensitive), without parsing credentials. */
function uriOption(uri: string | undefined, name: string): string | undefined {
  const query = uri?.split("?")[1];
  if (!query) return undefined;
  for (const pair of query.split("&")) {
    const [key, value] = pair.split("=");
    if (key?.toLowerCase() === name.toLowerCase()) return decodeURIComponent(value ?? "");
  }
  return undefined;
}

function mb(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export async function runPreflight(spec: MigrationSpec, source: ClusterPort, target: ClusterPort): Promise<PreflightReport> {
  const errors: PreflightFinding[] = [];
  const warnings: PreflightFinding[] = [];
  const facts: PreflightReport["facts"] = {};
  const matcher = namespaceMatcher(spec.namespaces);

  const [sInfo, tInfo] = await Promise.all([source.serverInfo(), target.serverInfo()]);
  facts.sourceVersion = sInfo.version;
  facts.targetVersion = tInfo.version;
  facts.sourceTopology = sInfo.topology;

  // Versions: the target must understand everything the source stores.
  const [sMaj, sMin] = majorMinor(sInfo.version);
  const [tMaj, tMin] = majorMinor(tInfo.version);
  if (tMaj < sMaj || (tMaj === sMaj && tMin < sMin)) {
    errors.push({
      code: "TARGET_OLDER_THAN_SOURCE",
      message: `the target runs MongoDB ${tInfo.version}, older than the source's ${sInfo.version}`,
      action: "upgrade the target (Atlas: raise mongoDBMajorVersion) to at least the source's major.minor version",
    });
  }

  // The copy always reads the primary (MongoClusterPort): say so when the URI asks for something else.
  const readPreference = uriOption(spec.source.uri, "readPreference");
  if (readPreference && readPreference.toLowerCase() !== "primary") {
    warnings.push({
      code: "SOURCE_READ_PREFERENCE_IGNORED",
      message: `the source URI sets readPreference=${readPreference}; the migration reads the primary regardless, because T0 comes from the primary and a lagging secondary could miss writes made just before it`,
      action: "nothing to do; expect the copy's read load on the primary",
    });
  }

  // What will be copied, and what cannot be.
  const all: CollectionInfo[] = await source.listCollections();
  const included = all.filter((c) => matcher.includes(c.db, c.name));

  // What the source can do, asked of it (provider/cluster/capabilities.ts), decides how changes are captured.
  const sample = included.find((c) => c.kind === "collection");
  const caps = await capabilitiesOf(source, sample && { db: sample.db, coll: sample.name });
  facts.sourceCapabilities = describeCapabilities(caps);
  const capture = chooseCaptureMode(caps, spec.builtin.sync);
  const captureMode = capture.mode;
  facts.captureMode = captureMode;
  if (capture.error) errors.push(capture.error);
  if (capture.warning) warnings.push(capture.warning);
  // Before 6.0 a change stream shows no DDL beyond drop, rename and dropDatabase (showExpandedEvents is new in
  // 6.0; docs: change-events, "Expanded Events"): a create, createIndexes or collMod (a view or validator
  // changed) during the sync is neither mirrored nor detected.
  if (captureMode === "changeStream" && (Number.parseInt(sInfo.version, 10) || 0) < 6) {
    warnings.push({
      code: "DDL_NOT_VISIBLE",
      message:
        `the source runs MongoDB ${sInfo.version}: its change streams do not show createIndexes, collMod (views, validators) or ` +
        "create, so such changes made during the sync are not mirrored and not detected",
      action: "run no DDL on the source between start and cutover, or repeat it on the target by hand before cutover",
    });
  }
  for (const c of all) {
    if (c.kind === "timeseries" && matcher.includes(c.db, c.name)) {
      errors.push({
        code: "TIMESERIES_UNSUPPORTED",
        message: `${c.db}.${c.name} is a time-series collection; the builtin engine cannot carry it`,
        action: `exclude it (namespaces.exclude: ["${c.db}.${c.name}"]) and move it separately with mongodump/mongorestore`,
      });
    }
    if (isSystemCollection(c.name) && (spec.namespaces.include.length === 0 || matcher.mayIncludeDatabase(c.db))) {
      warnings.push({
        code: "SYSTEM_COLLECTION_SKIPPED",
        message: `${c.db}.${c.name} is a system collection and is not copied`,
        action:
          c.name === "system.js"
            ? "re-create stored JavaScript on the target by hand if the application uses it"
            : "nothing to do unless you rely on it; views are recreated from their definitions",
      });
    }
    if (c.kind === "collection" && matcher.includes(c.db, c.name) && c.options.clusteredIndex && c.options.expireAfterSeconds !== undefined) {
      warnings.push({
        code: "CLUSTERED_TTL_NOT_COPIED",
        message: `${c.db}.${c.name} is a clustered collection with expireAfterSeconds; it is created without expiry`,
        action: `after cutover run collMod on the target: { collMod: "${c.name}", expireAfterSeconds: ${String(c.options.expireAfterSeconds)} }`,
      });
    }
  }
  const collections = included.filter((c) => c.kind === "collection");
  facts.collections = collections.length;
  facts.views = included.filter((c) => c.kind === "view").length;
  if (collections.length === 0) {
    warnings.push({
      code: "NOTHING_TO_COPY",
      message: "no source collection matches the namespace filter",
      action: "check namespaces.include / namespaces.exclude",
    });
  }

  // Data already on the target would only be found at cutover verification, after source writes are blocked:
  // say it now. A migration resuming its own checkpoint is expected to find its own copy there.
  const resuming = (await target.checkpoints(spec.migrationId).get(STATE_KEY)) !== null;
  if (!resuming) {
    const occupied: string[] = [];
    for (const c of collections) {
      const count = await target.countDocuments({ db: c.db, coll: c.name });
      if (count > 0) occupied.push(`${nsString({ db: c.db, coll: c.name })} (${count} documents)`);
    }
    if (occupied.length > 0) {
      errors.push({
        code: "TARGET_NOT_EMPTY",
        message: `the target already holds data in ${occupied.slice(0, 10).join(", ")}${occupied.length > 10 ? ` and ${occupied.length - 10} more` : ""}; it would not match the source at verification`,
        action:
          "drop those collections on the target after checking they are leftovers (a migration replaced before cutover leaves its now-stale copy behind), or exclude them with namespaces.exclude",
      });
    }
  }

  // Privileges of both users, against exactly what this run will do (privileges.ts).
  const choice = chooseWriteBlocking(spec, sInfo);
  const run: RunShape = {
    captureMode,
    writeBlocking: choice.mode,
    hasTtlIndexes: collections.some((c) => c.indexes.some((ix) => ix.options.expireAfterSeconds !== undefined && !ix.options.unique)),
  };
  const databases = [...new Set(included.map((c) => c.db))].sort();
  const [sourcePrivileges, targetPrivileges] = await Promise.all([source.privileges(), target.privileges()]);
  const sourceMissing = missingActions(sourcePrivileges, SOURCE_ACTIONS, run, databases);
  const targetMissing = missingActions(targetPrivileges, TARGET_ACTIONS, run, [...databases, CHECKPOINT_DATABASE]);
  for (const [side, missing] of [["source", sourceMissing], ["target", targetMissing]] as const) {
    for (const m of missing) {
      errors.push({
        code: side === "source" ? "SOURCE_PRIVILEGE_MISSING" : "TARGET_PRIVILEGE_MISSING",
        message: `the ${side} user lacks the ${m.action} action on ${m.where}: ${m.why}`,
        action: `grant the ${side} migration user ${m.grantedBy}`,
      });
    }
  }
  const cannot = (action: string, on: "oplog" | "cluster") => sourceMissing.some((m) => m.action === action && m.where === (on === "oplog" ? "local.oplog.rs" : "the cluster"));

  // Sizes and timing.
  let totalBytes = 0;
  let totalDocuments = 0;
  for (const c of collections) {
    const stats = await source.collectionStats({ db: c.db, coll: c.name });
    totalBytes += stats.sizeBytes;
    totalDocuments += stats.count;
  }
  facts.totalBytes = totalBytes;
  facts.totalDocuments = totalDocuments;
  const estimatedCopySeconds = Math.ceil(totalBytes / (copyMbPerSecond() * 1024 * 1024));
  facts.estimatedCopySeconds = estimatedCopySeconds;
  // Copies this short are not at risk from any real oplog; a brand-new deployment's window can be ~0 s.
  const copyLongEnoughToCheck = estimatedCopySeconds >= MIN_COPY_SECONDS_TO_CHECK;

  const tier = spec.target.atlas?.tier?.toUpperCase();
  if (tier && TIER_LIMIT_BYTES[tier] !== undefined && totalBytes > TIER_LIMIT_BYTES[tier]) {
    errors.push({
      code: "TARGET_TIER_TOO_SMALL",
      message: `the data to copy is ${mb(totalBytes)}, more than the ${tier} tier's ${mb(TIER_LIMIT_BYTES[tier])} limit`,
      action: "choose a larger tier (FLEX holds 5 GB, M10+ more) or exclude namespaces",
    });
  }

  if (captureMode === "changeStream" && !cannot("find", "oplog")) {
    const window = await source.oplogWindow();
    if (window) facts.oplogWindowSeconds = window.seconds;
    if (window && copyLongEnoughToCheck) {
      if (window.seconds < estimatedCopySeconds) {
        errors.push({
          code: "OPLOG_WINDOW_TOO_SHORT",
          message: `the source oplog covers ${window.seconds} s of changes, less than the estimated copy time of ${estimatedCopySeconds} s (at ${copyMbPerSecond()} MB/s): the change history would be lost before the copy ends`,
          action: "enlarge the source oplog (replSetResizeOplog) to several times the copy time, or migrate fewer namespaces at once",
        });
      } else if (window.seconds < 2 * estimatedCopySeconds) {
        warnings.push({
          code: "OPLOG_WINDOW_TIGHT",
          message: `the source oplog covers ${window.seconds} s, less than twice the estimated copy time (${estimatedCopySeconds} s)`,
          action: "enlarge the oplog (replSetResizeOplog) or keep write load low during the copy",
        });
      }
    }
  }

  // Write blocking at cutover.
  const blockingProblem = checkWriteBlocking(caps, spec.writeBlocking, choice);
  if (blockingProblem) errors.push(blockingProblem);
  if (choice.mode) facts.writeBlocking = choice.mode;
  if (choice.mode === "readOnlyUsers" && caps.userManagement.supported && !cannot("viewUser", "cluster")) {
    const users = await source.listUsers();
    const { missing } = findUsers(users, spec.builtin.readOnlyUsers);
    if (missing.length > 0) {
      errors.push({
        code: "READ_ONLY_USER_NOT_FOUND",
        message: `source user(s) ${missing.join(", ")} not found`,
        action: "fix builtin.readOnlyUsers (\"user\" or \"user@authDb\")",
      });
    }
  }
  if (choice.mode === "setUserWriteBlockMode" && !cannot("viewUser", "cluster")) {
    const bypass = await writeBlockingBypass(source, spec);
    errors.push(...bypass.errors);
    warnings.push(...bypass.warnings);
  }
  // Users the target will not have (only when the program says which it declares: AtlasMigration does).
  if (spec.declaredUsers && caps.userManagement.supported && !cannot("viewUser", "cluster")) {
    const [users, own] = await Promise.all([source.listUsers(), source.authenticatedUsers()]);
    warnings.push(...undeclaredUserWarnings(users, spec.declaredUsers, own));
  }
  if (choice.mode === "none") {
    warnings.push({
      code: "WRITES_NOT_BLOCKED",
      message: "writeBlocking is none: the engine will not stop source writes at cutover",
      action: `stop the application before cutover; the engine waits for ${spec.builtin.quietSeconds} s without changes before finishing`,
    });
  }

  return { ok: errors.length === 0, errors, warnings, facts };
}
