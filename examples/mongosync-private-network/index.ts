// The source lives in a private network that Atlas's migration servers cannot reach (no public hostnames,
// no inbound firewall rule allowed), and the Atlas cluster is reached over a private endpoint. mongosync runs
// on a host inside that network, next to the source, and writes to Atlas through the private endpoint.
// `pulumi up` runs on a machine that can reach mongosync's API (the same host, a self-hosted CI runner in the
// network, or a tunnel); the data never leaves the private network except into Atlas.
//
// This example uses the lower-level `Migration` resource: the Atlas cluster, its private endpoint and users are
// managed elsewhere (another stack, or the console), and the target connection string is the private-endpoint
// one, which `AtlasMigration` would not pick.
import * as pulumi from "@pulumi/pulumi";
import { Migration } from "pulumi-atlas-migration";

const cfg = new pulumi.Config();
const reversible = cfg.getBoolean("reversible") ?? false;

const migration = new Migration("billing", {
  engine: "mongosync",
  // The same connection strings mongosync was started with (--cluster0 / --cluster1). The engine keeps them
  // only as encrypted secrets in state; it talks to mongosync, not to the clusters.
  source: { uri: cfg.requireSecret("sourceUri") },
  target: {
    uri: cfg.requireSecret("targetUri"), // mongodb+srv://user:pw@billing-pl-0.abcde.mongodb.net (private endpoint)
    atlas: { projectId: cfg.require("atlasProjectId"), clusterName: cfg.require("clusterName"), tier: cfg.get("tier") ?? "M40" },
  },
  // A filtered sync cannot be reversed: with `reversible` the whole cluster moves (no namespaces).
  ...(reversible ? {} : { namespaces: { include: cfg.getObject<string[]>("includeNamespaces") ?? ["billing.*"] } }),
  cutover: cfg.getBoolean("cutover") ?? false,
  writeBlocking: { mode: "auto" },
  verificationMode: "full",
  mongosync: {
    // Over an SSH tunnel (ssh -N -L 27182:localhost:27182 sync-host) this stays http://localhost:27182.
    urls: [cfg.get("mongosyncUrl") ?? "http://localhost:27182"],
    enableVerification: true,
    // The /start body depends on mongosync's version (1.20 dropped enableUserWriteBlocking): `mongosync --version`.
    version: cfg.get("mongosyncVersion") ?? "1.22.0",
    // Keeps the old cluster as a fallback: after cutover mongosync can sync back (same shard count, 6.0+).
    reversible,
    // The way back, reviewed like the cutover (README "Roll back"): `rollback` reverses the sync after COMPLETE,
    // `rollbackCutover` commits it so the old cluster takes the writes again.
    rollback: cfg.getBoolean("rollback") ?? false,
    rollbackCutover: cfg.getBoolean("rollbackCutover") ?? false,
    // db.version() on the source; pre-6.0 sources get no write blocking and cannot be reversed.
    ...(cfg.get("sourceServerVersion") ? { sourceServerVersion: cfg.get("sourceServerVersion") } : {}),
  },
  timeouts: { createMinutes: 45, cutoverMinutes: 30, pollSeconds: 15 },
});

export const migrationId = migration.migrationId;
export const phase = migration.phase;
export const lagSeconds = migration.lagSeconds;
export const progress = migration.progress;
export const reason = migration.reason;
export const verification = migration.verification;
export const cutoverCompletedAt = migration.cutoverCompletedAt;
