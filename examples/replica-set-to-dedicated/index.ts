// A self-managed replica set (on VMs, in a data centre) moves into a dedicated Atlas cluster (M10 or larger),
// live: the copy runs while the application keeps writing, and the cutover is one reviewed config change.
//
// Two engines fit, chosen with `pulumi config set engine`:
//   builtin   (default) our engine, running inside `pulumi up`: copy, then the source's change stream.
//             Nothing to install; the machine running `pulumi up` must reach both clusters.
//   mongosync MongoDB's Cluster-to-Cluster Sync. You run the mongosync binary near the clusters
//             (`mongosync --cluster0 <source> --cluster1 <target>`); the program drives its HTTP API.
import * as pulumi from "@pulumi/pulumi";
import { AtlasMigration } from "pulumi-atlas-migration";

const cfg = new pulumi.Config();
const engine = cfg.get("engine") ?? "builtin";
if (engine !== "builtin" && engine !== "mongosync") throw new Error(`engine must be "builtin" or "mongosync", not "${engine}"`);

const appDatabase = cfg.get("appDatabase") ?? "orders";

const orders = new AtlasMigration("orders", {
  projectId: cfg.require("atlasProjectId"),
  source: { uri: cfg.requireSecret("sourceUri") }, // mongodb://user:pw@db1:27017,db2:27017,db3:27017/?replicaSet=rs0
  target: {
    cluster: {
      name: cfg.get("clusterName") ?? "orders",
      tier: cfg.get("tier") ?? "M10",
      provider: cfg.get("cloudProvider") ?? "AWS",
      region: cfg.get("region") ?? "EU_WEST_1",
      // The target must run the source's major version or a later one.
      mongoDbMajorVersion: cfg.get("mongoDbMajorVersion") ?? "8.0",
    },
  },
  accessList: [
    { cidr: cfg.require("appCidr"), comment: "application servers" },
    // The engine's host: where `pulumi up` runs (builtin) or where mongosync runs. Removed after cutover.
    { ip: cfg.require("migrationHostIp"), comment: "migration host", temporary: true },
  ],
  databaseUsers: [
    {
      username: "app",
      password: cfg.requireSecret("appPassword"),
      roles: [{ roleName: "readWrite", databaseName: appDatabase }],
    },
  ],
  migrationUser: { username: "pulumi-migrator", password: cfg.requireSecret("migratorPassword") },
  migration: {
    engine,
    cutover: cfg.getBoolean("cutover") ?? false,
    // Everything except scratch data nobody needs on the new cluster.
    namespaces: { exclude: cfg.getObject<string[]>("excludeNamespaces") ?? ["logs.*"] },
    // MongoDB 6.0+ sources: setUserWriteBlockMode. Older ones: list the app's users for readOnlyUsers.
    writeBlocking: { mode: "auto", readOnlyUsers: cfg.getObject<string[]>("readOnlyUsers") },
    verificationMode: "full",
    // One `pulumi up` drives the sync at most this long; the next `pulumi up` resumes where it stopped.
    timeouts: { createMinutes: cfg.getNumber("createMinutes") ?? 60, cutoverMinutes: 30 },
    ...(engine === "mongosync"
      ? // One mongosync for a replica set. Its API has no authentication: reach it over a tunnel or run
        // `pulumi up` on the same host (see README).
        {
          mongosync: {
            urls: [cfg.get("mongosyncUrl") ?? "http://localhost:27182"],
            enableVerification: true,
            // The /start body depends on mongosync's version: `mongosync --version`.
            version: cfg.get("mongosyncVersion") ?? "1.22.0",
          },
        }
      : // builtin: bigger batches for a dedicated target; a detached worker keeps syncing between runs.
        { builtin: { parallelCollections: 4, detachedWorker: cfg.getBoolean("detachedWorker") ?? false } }),
  },
});

export const connectionString = orders.connectionString; // secret: mongodb+srv://host, give it the app's user
export const phase = orders.phase;
export const lagSeconds = orders.lagSeconds;
export const engineInUse = orders.migration.engine;
export const progress = orders.migration.progress;
export const verification = orders.verification;
export const cutoverCompletedAt = orders.cutoverCompletedAt;
