// A cluster that Cloud Manager monitors is pushed into Atlas by Atlas itself (live migration, push flow):
// Atlas runs mongosync on a migration host you provision in Cloud Manager, and this program drives the
// Admin API: link token → validate → create → poll → cutover.
//
// Engine: atlas-push. The data never passes through the machine running `pulumi up`; that machine only needs
// an Atlas API key (Organization Owner for the link token, Project Owner for the migration).
// Source and destination must both run MongoDB 6.0.13+ or 7.0.8+ (same major version), and the target must be
// a dedicated cluster (M10+).
import * as pulumi from "@pulumi/pulumi";
import { AtlasMigration } from "pulumi-atlas-migration";

const cfg = new pulumi.Config();
/** Public IPs of the migration host(s): on the Atlas access list while migrating, and allowed to use the link. */
const migrationHostIps = cfg.getObject<string[]>("migrationHostIps") ?? [];

const orders = new AtlasMigration("legacy", {
  projectId: cfg.require("atlasProjectId"),
  source: {
    cloudManager: {
      groupId: cfg.require("cloudManagerProjectId"), // Cloud Manager → Project Settings → Project ID
      clusterName: cfg.require("sourceClusterName"), // as Cloud Manager shows it
      // A source user able to read everything (see README); leave both out with managedAuthentication.
      username: cfg.get("sourceUsername"),
      password: cfg.getSecret("sourcePassword"),
      ssl: cfg.getBoolean("sourceTls") ?? true,
    },
  },
  target: {
    cluster: {
      name: cfg.get("clusterName") ?? "legacy",
      tier: cfg.get("tier") ?? "M30",
      provider: cfg.get("cloudProvider") ?? "AWS",
      region: cfg.get("region") ?? "US_EAST_1",
      // Push live migration needs the same major version on both sides.
      mongoDbMajorVersion: cfg.require("mongoDbMajorVersion"),
    },
  },
  accessList: [
    { cidr: cfg.require("appCidr"), comment: "application servers" },
    // Atlas accepts the migration host's connections only from the access list (not needed over a private
    // endpoint). Temporary: removed by the `pulumi up` that completes the cutover.
    ...migrationHostIps.map((ip) => ({ ip, comment: "Cloud Manager migration host", temporary: true })),
  ],
  databaseUsers: [
    {
      username: "app",
      password: cfg.requireSecret("appPassword"),
      roles: [{ roleName: "readWrite", databaseName: cfg.get("appDatabase") ?? "app" }],
    },
  ],
  // No migrationUser: Atlas moves the data with its own credentials.
  migration: {
    engine: "atlas-push",
    cutover: cfg.getBoolean("cutover") ?? false,
    atlasPush: {
      orgId: cfg.require("atlasOrgId"),
      // The hostname of the migration host as Cloud Manager lists it (Deployment → Migration Hosts).
      migrationHost: cfg.require("migrationHost"),
      // Creates the org link token Cloud Manager needs, unless the Cloud Manager project is linked already.
      createLinkToken: true,
      // Atlas accepts the link only from these addresses.
      linkTokenAccessListIps: migrationHostIps.length > 0 ? migrationHostIps : undefined,
      // Refuse to start over a non-empty target (the default); true wipes the target first.
      dropDestinationData: false,
    },
    // How long one `pulumi up` polls Atlas before returning (the next run resumes).
    timeouts: { createMinutes: cfg.getNumber("createMinutes") ?? 30, cutoverMinutes: 60, pollSeconds: 30 },
  },
});

/** Paste into Cloud Manager → Organization Settings → Connect to Atlas. A secret. */
export const linkToken = pulumi.secret(orders.migration.linkToken);
export const phase = orders.phase;
export const lagSeconds = orders.lagSeconds;
export const reason = orders.migration.reason;
export const connectionString = orders.connectionString;
export const cutoverCompletedAt = orders.cutoverCompletedAt;
