// A self-managed sharded cluster (config servers as a replica set, CSRS) moves into a sharded Atlas cluster
// with MongoDB's Cluster-to-Cluster Sync. A sharded source runs one mongosync per source shard
// (`mongosync --id <shardId> …`); the engine sends every call to all of them and reports them as one migration.
//
// The sharded target is declared here with @pulumi/mongodbatlas directly (AtlasMigration's own `cluster`
// creates replica sets) and handed to AtlasMigration as an existing cluster.
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";
import { AtlasMigration } from "pulumi-atlas-migration";

const cfg = new pulumi.Config();
const projectId = cfg.require("atlasProjectId");
const tier = cfg.get("tier") ?? "M30";
const region = cfg.get("region") ?? "EU_WEST_1";
const provider = cfg.get("cloudProvider") ?? "AWS";
/** Mongosync API URLs, one per source shard, in any order. */
const mongosyncUrls = cfg.requireObject<string[]>("mongosyncUrls");
/** Same shard count as the source keeps chunk placement simple and is required for a reversible sync. */
const shardCount = cfg.getNumber("shardCount") ?? mongosyncUrls.length;

// Each replication spec is one shard (mongodbatlas v4 / Atlas API v2 layout).
const target = new mongodbatlas.AdvancedCluster("orders-sharded", {
  projectId,
  name: cfg.get("clusterName") ?? "orders-sharded",
  clusterType: "SHARDED",
  mongoDbMajorVersion: cfg.get("mongoDbMajorVersion") ?? "8.0",
  replicationSpecs: Array.from({ length: shardCount }, () => ({
    regionConfigs: [
      { providerName: provider, regionName: region, priority: 7, electableSpecs: { instanceSize: tier, nodeCount: 3 } },
    ],
  })),
});

/**
 * Only when the SOURCE is a replica set that you shard on the way in: mongosync then needs each collection's
 * shard key (it refuses `sharding` for sharded sources, whose collections keep the keys they have).
 * Config example: [{ "database": "shop", "collection": "orders", "key": [{ "customerId": 1 }] }]
 */
/** Keep the way back open: after cutover mongosync can sync the Atlas cluster back into the source. */
const reversible = cfg.getBoolean("reversible") ?? false;
const shardKeys = cfg.getObject<Array<{ database: string; collection: string; key: Array<Record<string, 1 | "hashed">> }>>("shardKeys");

const orders = new AtlasMigration("orders", {
  projectId,
  source: { uri: cfg.requireSecret("sourceUri") }, // the mongos: mongodb://user:pw@mongos1:27017,mongos2:27017/
  target: { existingClusterName: target.name, tier },
  accessList: [
    { cidr: cfg.require("appCidr"), comment: "application servers" },
    ...cfg.requireObject<string[]>("mongosyncHostIps").map((ip) => ({ ip, comment: "mongosync host", temporary: true })),
  ],
  databaseUsers: [
    { username: "app", password: cfg.requireSecret("appPassword"), roles: [{ roleName: "readWrite", databaseName: "shop" }] },
  ],
  // mongosync writes into Atlas as this user (start each mongosync with it in --cluster1).
  migrationUser: { username: "pulumi-migrator", password: cfg.requireSecret("migratorPassword") },
  migration: {
    engine: "mongosync",
    cutover: cfg.getBoolean("cutover") ?? false,
    // A filtered sync cannot be reversed: with `reversible` the whole cluster moves (no namespaces).
    ...(reversible ? {} : { namespaces: { include: cfg.getObject<string[]>("includeNamespaces") ?? ["shop.*"] } }),
    // "auto": mongosync itself blocks source writes when it receives /commit (enableUserWriteBlocking
    // "sourceAndDestination" on 1.12–1.19, `true` on ≤1.11; 1.20+ decides on its own). The engine does not run
    // setUserWriteBlockMode: mongosync does, through the mongos it was given.
    writeBlocking: { mode: "auto" },
    mongosync: {
      urls: mongosyncUrls,
      enableVerification: true,
      // The /start body depends on mongosync's version (1.20 dropped enableUserWriteBlocking): `mongosync --version`.
      version: cfg.get("mongosyncVersion") ?? "1.22.0",
      ...(shardKeys ? { sharding: { createSupportingIndexes: true, entries: shardKeys } } : {}),
      // Rollback (README "Roll back"): start reversible, then after COMPLETE flip `rollback`, later `rollbackCutover`.
      // Needs the same shard count on both sides, a 6.0+ source and no shardKeys (no replica set → sharded).
      reversible,
      rollback: cfg.getBoolean("rollback") ?? false,
      rollbackCutover: cfg.getBoolean("rollbackCutover") ?? false,
      // The source's MongoDB version: a pre-6.0 source gets no write blocking and cannot be reversed.
      ...(cfg.get("sourceServerVersion") ? { sourceServerVersion: cfg.get("sourceServerVersion") } : {}),
    },
    timeouts: { createMinutes: 60, cutoverMinutes: 60, pollSeconds: 30 },
  },
});

export const targetClusterName = target.name;
export const connectionString = orders.connectionString;
export const phase = orders.phase;
export const lagSeconds = orders.lagSeconds;
export const progress = orders.migration.progress;
export const verification = orders.verification;
