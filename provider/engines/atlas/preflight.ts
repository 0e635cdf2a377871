// atlas-push preflight: what can be known before asking Atlas to validate. Reads only (availableProjects).
//
// The version rule comes from the push live-migration page: source and destination on MongoDB 6.0.13+ or
// 7.0.8+ (later pages say 6.0.17+/7.0.13+; we enforce the documented minimum and let Atlas's own validation
// apply anything stricter), FCV 6.0 or later, no rapid releases.

import { MigrationError, describeError } from "../../errors";
import type { EngineContext, MigrationSpec, PreflightFinding, PreflightReport } from "../engine";
import type { AtlasClient } from "./client";
import { AtlasApiError } from "./errors";
import { pushParts } from "./mapping";
import type { AvailableDeployment, AvailableProject } from "./types";

const UNSUPPORTED_TARGET_TIERS = new Set(["M0", "M2", "M5", "FLEX", "SERVERLESS"]);

export interface VersionVerdict {
  ok: boolean;
  code?: string;
  message?: string;
}

/** Applies the push live-migration version rule to a source version string like "7.0.13" or "6.0.14-ent". */
export function checkSourceVersion(version: string | undefined): VersionVerdict {
  const match = /^(\d+)\.(\d+)\.(\d+)/.exec(version ?? "");
  if (!match) return { ok: true, code: "SOURCE_VERSION_UNKNOWN", message: `Cloud Manager reports no readable MongoDB version (${version ?? "none"})` };
  const [major, minor, patch] = match.slice(1).map(Number);
  if (major < 6) {
    return { ok: false, code: "SOURCE_VERSION_UNSUPPORTED", message: `the source runs MongoDB ${version}; push live migration through the API needs 6.0.13+ or 7.0.8+` };
  }
  if (minor !== 0) {
    return { ok: false, code: "SOURCE_RAPID_RELEASE", message: `the source runs rapid release ${version}; live migration supports only major releases (x.0)` };
  }
  if ((major === 6 && patch < 13) || (major === 7 && patch < 8)) {
    return { ok: false, code: "SOURCE_VERSION_TOO_OLD", message: `the source runs MongoDB ${version}; push live migration needs 6.0.13+ or 7.0.8+` };
  }
  return { ok: true };
}

function fcvTooLow(fcv: string | undefined): boolean {
  const match = /^(\d+)\.(\d+)/.exec(fcv ?? "");
  return match !== null && Number(match[1]) < 6;
}

export async function atlasPushPreflight(spec: MigrationSpec, ctx: EngineContext, clientFor: () => AtlasClient): Promise<PreflightReport> {
  const errors: PreflightFinding[] = [];
  const warnings: PreflightFinding[] = [];
  const facts: PreflightReport["facts"] = {};
  const error = (code: string, message: string, action: string) => errors.push({ code, message, action });
  const warn = (code: string, message: string, action: string) => warnings.push({ code, message, action });
  const report = (): PreflightReport => ({ ok: errors.length === 0, errors, warnings, facts });

  let parts;
  try {
    parts = pushParts(spec);
  } catch (err) {
    error("ATLAS_PUSH_INPUT_MISSING", describeError(err), "set atlasPush, source.cloudManager and target.atlas for the atlas-push engine");
    return report();
  }
  const { push, cloudManager: cm, target } = parts;

  // ---- offline checks of the spec ----
  if (spec.namespaces.include.length > 0 || spec.namespaces.exclude.length > 0) {
    error("NAMESPACE_FILTER_UNSUPPORTED", "Atlas push live migration always migrates every namespace; it has no include/exclude filter",
      "remove the namespace filter, or use the mongosync or builtin engine");
  }
  const tier = (target.tier ?? "").toUpperCase();
  if (UNSUPPORTED_TARGET_TIERS.has(tier)) {
    error("TARGET_TIER_UNSUPPORTED", `Atlas live migration cannot target a ${target.tier} cluster`,
      "use a dedicated (M10+) target cluster, or the builtin engine for free/flex targets");
  } else if (/^M(10|20|30)$/.test(tier)) {
    warn("TARGET_TIER_SMALL", `the target is ${target.tier}; Atlas recommends at least M40 for live migration`,
      "scale the target up for the migration and back down afterwards");
  }
  if (push.hostnameSchemaType === "PRIVATE_LINK" && !push.privateLinkId) {
    error("PRIVATE_LINK_ID_MISSING", "hostnameSchemaType PRIVATE_LINK needs privateLinkId", "set atlasPush.privateLinkId to the private endpoint id");
  }
  if (push.privateLinkId && push.hostnameSchemaType !== "PRIVATE_LINK") {
    error("PRIVATE_LINK_ID_UNUSED", "privateLinkId is only used with hostnameSchemaType PRIVATE_LINK", "set hostnameSchemaType to PRIVATE_LINK or remove privateLinkId");
  }
  if (cm.managedAuthentication && cm.username) {
    warn("SOURCE_CREDENTIALS_IGNORED", "managedAuthentication is on, so the source username/password are not sent",
      "remove source.cloudManager.username/password, or turn managedAuthentication off");
  } else if (cm.username && !cm.password) {
    error("SOURCE_PASSWORD_MISSING", "source.cloudManager.username is set without a password", "set source.cloudManager.password (as a secret)");
  }
  if (cm.caCertificatePath && !cm.caCertificatePath.startsWith("/") && !/^[A-Za-z]:\\/.test(cm.caCertificatePath)) {
    warn("CA_PATH_RELATIVE", `caCertificatePath ${cm.caCertificatePath} is not absolute; it is read on the migration host`,
      "give the absolute path of the CA file on the migration host");
  }
  if (push.dropDestinationData) {
    warn("DROPS_DESTINATION_DATA", `Atlas will drop every collection on ${target.clusterName} before migrating`,
      "set dropDestinationData to false if the target holds data you need");
  }
  if (spec.verification !== "none") {
    warn("VERIFICATION_BY_ATLAS", `verification "${spec.verification}" is not run by this package for atlas-push; Atlas verifies during its own cutover`,
      "set verification to \"none\" to silence this, or use the builtin engine for our own counts/hashes");
  }
  warn("STOP_WRITES_BEFORE_CUTOVER", "Atlas cannot block writes on a Cloud Manager source: application writes must be stopped by you before cutover",
    "stop the application (or make it read-only) before merging cutover: true");
  if (push.sharding) {
    if (push.sharding.entries.length === 0) {
      error("SHARDING_ENTRIES_MISSING", "atlasPush.sharding is set without any entries; Atlas shards only the listed collections",
        "list the collections to shard with their keys, or remove atlasPush.sharding");
    }
    const seen = new Set<string>();
    for (const entry of push.sharding.entries) {
      const ns = `${entry.database}.${entry.collection}`;
      if (seen.has(ns)) error("SHARDING_ENTRY_DUPLICATE", `sharding lists ${ns} twice`, "keep one entry per collection");
      seen.add(ns);
      if (entry.key.length === 0) error("SHARDING_KEY_EMPTY", `sharding entry ${ns} has no key`, "give the shard key fields, e.g. [{ userId: 1 }]");
    }
  }

  // ---- what Atlas can see through the org link ----
  let projects: AvailableProject[];
  try {
    projects = await clientFor().listAvailableProjects(ctx, push.orgId);
  } catch (err) {
    if (err instanceof AtlasApiError && !err.gaveUp && err.status === 401) {
      error("ATLAS_CREDENTIALS_REJECTED", err.message, "fix the Atlas API key or service account in the provider configuration");
    } else if (err instanceof AtlasApiError && !err.gaveUp && err.status === 403) {
      error("ATLAS_FORBIDDEN", err.message, "use credentials with the Organization Owner role on this organization");
    } else if (err instanceof AtlasApiError && !err.gaveUp && err.status === 404) {
      error("ATLAS_ORG_NOT_FOUND", err.message, `check atlasPush.orgId (${push.orgId})`);
    } else if (err instanceof AtlasApiError && err.gaveUp) {
      error("ATLAS_UNREACHABLE", err.message, "check network access to Atlas (and its status page), then run `pulumi up` again");
    } else if (err instanceof AtlasApiError) {
      error("ATLAS_API_ERROR", err.message, "fix what Atlas names, then run `pulumi up` again");
    } else if (err instanceof MigrationError && err.code === "ATLAS_CREDENTIALS_MISSING") {
      error(err.code, err.message, "set mongodbatlas:publicKey/privateKey (or clientId/clientSecret) in stack config, or the MONGODB_ATLAS_* variables");
    } else {
      throw err;
    }
    return report();
  }
  facts.atlasCredentialsOk = true;
  facts.availableCloudManagerProjects = projects.length;

  const project = projects.find((p) => p.projectId === cm.groupId);
  if (!project) {
    if (push.createLinkToken) {
      warn("CLOUD_MANAGER_LINK_PENDING", `Cloud Manager project ${cm.groupId} is not visible to Atlas org ${push.orgId} yet`,
        "after create, paste the linkToken output into Cloud Manager (Organization Settings → Connect to Atlas) and provision the migration host");
    } else {
      error("CLOUD_MANAGER_PROJECT_NOT_VISIBLE",
        `Cloud Manager project ${cm.groupId} is not visible to Atlas org ${push.orgId}` +
          (projects.length ? ` (visible: ${projects.map((p) => `${p.name} ${p.projectId}`).join(", ")})` : " (no project is linked)"),
        "link the Cloud Manager organization to Atlas (set atlasPush.createLinkToken: true to get a link token), or fix source.cloudManager.groupId");
    }
    return report();
  }
  facts.cloudManagerProject = project.name;
  facts.migrationHosts = project.migrationHosts.join(",");
  if (!project.migrationHosts.includes(push.migrationHost)) {
    error("MIGRATION_HOST_NOT_FOUND",
      `migration host ${push.migrationHost} is not provisioned in Cloud Manager project ${project.name}` +
        (project.migrationHosts.length ? ` (provisioned: ${project.migrationHosts.join(", ")})` : " (none provisioned)"),
      "provision a migration host in Cloud Manager, or set atlasPush.migrationHost to one listed");
  }
  const deployment: AvailableDeployment | undefined = project.deployments.find((d) => d.name === cm.clusterName);
  if (!deployment) {
    error("CLOUD_MANAGER_CLUSTER_NOT_FOUND",
      `cluster ${cm.clusterName} is not in Cloud Manager project ${project.name} (clusters: ${project.deployments.map((d) => d.name).join(", ") || "none"})`,
      "fix source.cloudManager.clusterName");
    return report();
  }
  facts.sourceVersion = deployment.mongoDBVersion ?? "unknown";
  facts.sourceFcv = deployment.featureCompatibilityVersion ?? "unknown";
  facts.sourceSharded = deployment.sharded === true;
  if (typeof deployment.dbSizeBytes === "number") facts.sourceDataBytes = deployment.dbSizeBytes;
  if (typeof deployment.oplogSizeMB === "number") facts.sourceOplogMB = deployment.oplogSizeMB;

  // What Cloud Manager reports about the deployment against what the request will say (source.ssl and
  // source.managedAuthentication are required in LiveMigrationRequest20240530): a mismatch would only surface
  // later as a failed Atlas validation with a vaguer message.
  if (typeof deployment.tlsEnabled === "boolean") {
    facts.sourceTlsEnabled = deployment.tlsEnabled;
    const ssl = cm.ssl ?? false;
    if (deployment.tlsEnabled && !ssl) {
      warn("SOURCE_TLS_MISMATCH", `Cloud Manager reports TLS enabled on ${cm.clusterName}, but source.cloudManager.ssl is not true`,
        "set source.cloudManager.ssl: true (and caCertificatePath if the CA is private)");
    } else if (!deployment.tlsEnabled && ssl) {
      warn("SOURCE_TLS_MISMATCH", `Cloud Manager reports TLS disabled on ${cm.clusterName}, but source.cloudManager.ssl is true`,
        "set source.cloudManager.ssl: false, or enable TLS on the source first");
    }
  }
  if (typeof deployment.managed === "boolean") {
    facts.sourceManagedByAutomation = deployment.managed;
    if (cm.managedAuthentication && !deployment.managed) {
      warn("SOURCE_NOT_AUTOMATION_MANAGED", `managedAuthentication is on, but Cloud Manager Automation does not manage ${cm.clusterName}, so it cannot supply the credentials`,
        "turn managedAuthentication off and give source.cloudManager.username/password");
    }
  }

  const verdict = checkSourceVersion(deployment.mongoDBVersion);
  if (!verdict.ok) error(verdict.code!, verdict.message!, "upgrade the source cluster (6.0.13+ or 7.0.8+) before migrating");
  else if (verdict.code) warn(verdict.code, verdict.message!, "check the source version in Cloud Manager; Atlas validation will reject an unsupported one");
  if (fcvTooLow(deployment.featureCompatibilityVersion)) {
    error("SOURCE_FCV_TOO_LOW", `the source featureCompatibilityVersion is ${deployment.featureCompatibilityVersion}; live migration needs 6.0 or later`,
      "raise the featureCompatibilityVersion to the server's version");
  }
  if (deployment.sharded) {
    warn("SOURCE_SHARDED", `${cm.clusterName} is sharded: the target must be sharded too, and the source user needs clusterMonitor on every shard`,
      "grant backup, readAnyDatabase and clusterMonitor to the migration user on every shard and the config servers");
    if (push.sharding) {
      warn("SHARDING_ENTRIES_FOR_SHARDED_SOURCE", "sharding entries apply to replica set → sharded migrations; Atlas may ignore or reject them for a sharded source",
        "remove atlasPush.sharding unless Atlas validation accepts it");
    }
  }
  return report();
}
