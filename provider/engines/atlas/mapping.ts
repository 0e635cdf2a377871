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

/**
 * Atlas's status → our phase:
 * - NEW → PENDING.
 * - WORKING → READY_FOR_CUTOVER when readyForCutover; CUTTING_OVER once we asked for the cutover; otherwise
 *   COPYING while Atlas reports no lag yet (initial copy) and SYNCING once it reports a lag.
 * - COMPLETE → COMPLETE.
 * - FAILED → FAILED; EXPIRED → FAILED with a reason starting "expired:" (our Phase set has no EXPIRED, and an
 *   expired migration cannot be resumed: it needs the same action as a failed one). details.atlasStatus keeps
 *   the raw value.
 */
export function toMigrationStatus(m: LiveMigration, opts: { cutoverRequested: boolean; migrationHost?: string }): MigrationStatus {
  const warnings: string[] = [];
  const lag = typeof m.lagTimeSeconds === "number" ? m.lagTimeSeconds : null;
  let phase: Phase;
  let reason: string | undefined;
  switch (m.status) {
    case "NEW":
      phase = "PENDING";
      break;
    case "WORKING":
      if (m.readyForCutover === true) phase = opts.cutoverRequested ? "CUTTING_OVER" : "READY_FOR_CUTOVER";
      else if (opts.cutoverRequested) phase = "CUTTING_OVER";
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
  const status: MigrationStatus = {
    phase,
    lagSeconds: m.status === "WORKING" ? lag : phase === "COMPLETE" ? 0 : null,
    readyForCutover: m.status === "WORKING" && m.readyForCutover === true,
    warnings,
    details: {
      atlasStatus: m.status ?? null,
      liveMigrationId: m._id,
      migrationHost: (m.migrationHosts ?? [])[0] ?? opts.migrationHost ?? null,
    },
  };
  if (reason) status.reason = reason;
  return status;
}

/** NEW and WORKING migrations are still running in Atlas. */
export function isActive(m: LiveMigration): boolean {
  return m.status === "NEW" || m.status === "WORKING";
}
