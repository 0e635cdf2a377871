// Translations between our MigrationSpec / MigrationStatus and Atlas's live-migration request and response.

import { InputError } from "../../errors";
import type { AtlasPushOptions, AtlasTarget, CloudManagerSource, MigrationSpec, MigrationStatus, Phase } from "../engine";
import type { LiveMigration, LiveMigrationRequest } from "./types";

export interface PushParts {
  push: AtlasPushOptions;
  cloudManager: CloudManagerSource;
  target: AtlasTarget;
}

/** The three parts an atlas-push spec must have; a clear input error naming the missing one otherwise. */
export function pushParts(spec: MigrationSpec): PushParts {
  if (!spec.atlasPush) throw new InputError("atlasPush", "the atlas-push engine needs atlasPush (orgId, migrationHost, …)");
  if (!spec.source.cloudManager) {
    throw new InputError("source.cloudManager", "the atlas-push engine migrates a Cloud Manager-monitored cluster: set groupId and clusterName");
  }
  if (!spec.target.atlas) throw new InputError("target.atlas", "the atlas-push engine needs the Atlas projectId and clusterName of the target");
  return { push: spec.atlasPush, cloudManager: spec.source.cloudManager, target: spec.target.atlas };
}

/** LiveMigrationRequest20240530 for both validate and create. Contains the source password: never log it. */
export function migrationRequest(spec: MigrationSpec): LiveMigrationRequest {
  const { push, cloudManager: cm, target } = pushParts(spec);
  const managed = cm.managedAuthentication ?? false;
  const source: LiveMigrationRequest["source"] = {
    clusterName: cm.clusterName,
    groupId: cm.groupId,
    managedAuthentication: managed,
    ssl: cm.ssl ?? false,
  };
  if (cm.caCertificatePath) source.caCertificatePath = cm.caCertificatePath;
  // With managed authentication Cloud Manager automation supplies the credentials; the spec says omit them.
  if (!managed && cm.username) {
    source.username = cm.username;
    source.password = cm.password ?? "";
  }
  const destination: LiveMigrationRequest["destination"] = {
    clusterName: target.clusterName,
    groupId: target.projectId,
    hostnameSchemaType: push.hostnameSchemaType ?? "PUBLIC",
  };
  if (push.hostnameSchemaType === "PRIVATE_LINK" && push.privateLinkId) destination.privateLinkId = push.privateLinkId;
  const request: LiveMigrationRequest = {
    source,
    destination,
    // Required in the current spec, optional in older ones: always sent. Exactly one host per migration.
    migrationHosts: [push.migrationHost],
    dropDestinationData: push.dropDestinationData,
  };
  if (push.sharding && push.sharding.entries.length > 0) {
    request.sharding = {
      createSupportingIndexes: push.sharding.createSupportingIndexes,
      shardingEntries: push.sharding.entries.map((e) => ({ database: e.database, collection: e.collection, shardCollection: { key: e.key } })),
    };
  }
  return request;
}

export const FAILED_REASON =
  "Atlas reports the live migration FAILED. The Admin API exposes no failure reason: open Atlas → Organization → " +
  "Live Migration (or the migration host's logs in Cloud Manager) for details, then delete and re-create this resource to start over";

export const EXPIRED_REASON =
  "expired: the source and destination were in sync but nobody cut over within Atlas's 120-hour window, so Atlas " +
  "stopped syncing. Delete and re-create this resource to start a new migration (the window can be extended only in the Atlas UI)";

/** Atlas's cutover timer: 120 hours once the sync caught up (push live-migration guide; extendable only in the UI). */
export const CUTOVER_WINDOW_MS = 120 * 3600_000;
/** Warnings about the window start this long before it can close. */
export const CUTOVER_WINDOW_WARN_MS = 24 * 3600_000;

export interface StatusContext {
  /** The phase Pulumi state holds from the last run (the provider's ctx.stored.phase). */
  storedPhase?: Phase;
  migrationHost?: string;
  /** When the migration started (the handle's startedAt): the window cannot close before this + 120 h. */
  startedAt?: string;
  /** Now, on the caller's clock. */
  now?: number;
}

/**
 * Atlas's status → our phase, from Atlas's answer and the stored phase (never from process memory):
 * - NEW → PENDING.
 * - WORKING:
 *   - stored CUTTING_OVER (a cutover this package began): CUTTING_OVER until Atlas says COMPLETE/FAILED;
 *   - readyForCutover → READY_FOR_CUTOVER;
 *   - no lag while the stored phase was READY_FOR_CUTOVER: a cutover begun outside Pulumi (the Atlas UI) —
 *     `lagTimeSeconds` is reported "only while active and before cutover" (LiveMigrationResponse in the v2 spec);
 *   - otherwise COPYING while Atlas reports no lag yet (initial copy), SYNCING once it reports one.
 * - COMPLETE → COMPLETE. FAILED → FAILED; EXPIRED → FAILED with a reason starting "expired:" (no EXPIRED phase;
 *   an expired migration cannot be resumed either). details.atlasStatus keeps the raw value.
 * details.cutoverDeadline is the earliest moment Atlas's 120-hour window can close (started-at + 120 h): Atlas
 * starts the timer when the sync catches up, which is never before the start. From 24 h before it, every
 * status carries a warning.
 */
export function toMigrationStatus(m: LiveMigration, opts: StatusContext): MigrationStatus {
  const warnings: string[] = [];
  const lag = typeof m.lagTimeSeconds === "number" ? m.lagTimeSeconds : null;
  let phase: Phase;
  let reason: string | undefined;
  switch (m.status) {
    case "NEW":
      phase = "PENDING";
      break;
    case "WORKING":
      if (opts.storedPhase === "CUTTING_OVER") phase = "CUTTING_OVER";
      else if (m.readyForCutover === true) phase = "READY_FOR_CUTOVER";
      else if (opts.storedPhase === "READY_FOR_CUTOVER" && lag === null) phase = "CUTTING_OVER";
      else phase = lag === null ? "COPYING" : "SYNCING";
      break;
    case "COMPLETE":
      phase = "COMPLETE";
      break;
    case "FAILED":
      phase = "FAILED";
      reason = FAILED_REASON;
      break;
    case "EXPIRED":
      phase = "FAILED";
      reason = EXPIRED_REASON;
      break;
    default:
      phase = "PENDING";
      warnings.push(`Atlas reported an unknown live-migration status ${JSON.stringify(m.status)}; treating it as pending`);
  }
  const start = opts.startedAt ? Date.parse(opts.startedAt) : NaN;
  const deadline = Number.isFinite(start) ? new Date(start + CUTOVER_WINDOW_MS) : undefined;
  const active = m.status === "NEW" || m.status === "WORKING";
  if (deadline && active && phase !== "CUTTING_OVER" && opts.now !== undefined && opts.now >= deadline.getTime() - CUTOVER_WINDOW_WARN_MS) {
    warnings.push(cutoverWindowWarning(deadline, opts.now));
  }
  const status: MigrationStatus = {
    phase,
    lagSeconds: m.status === "WORKING" ? lag : phase === "COMPLETE" ? 0 : null,
    readyForCutover: m.status === "WORKING" && m.readyForCutover === true,
    warnings,
    details: {
      atlasStatus: m.status ?? null,
      liveMigrationId: m._id,
      migrationHost: (m.migrationHosts ?? [])[0] ?? opts.migrationHost ?? null,
      cutoverDeadline: deadline ? deadline.toISOString() : null,
    },
  };
  if (reason) status.reason = reason;
  return status;
}

/** The warning every status and progress line carries from 24 h before the window can close. */
export function cutoverWindowWarning(deadline: Date, now: number): string {
  const hours = Math.max(0, Math.round((deadline.getTime() - now) / 3600_000));
  return (
    `Atlas's 120-hour cutover window can close as early as ${deadline.toISOString()} (${hours} h from now; the API cannot extend it): ` +
    "cut over before then (merge cutover: true), or extend it by 24 h in the Atlas UI; once it closes Atlas stops syncing (EXPIRED)"
  );
}

/** NEW and WORKING migrations are still running in Atlas. */
export function isActive(m: LiveMigration): boolean {
  return m.status === "NEW" || m.status === "WORKING";
}
