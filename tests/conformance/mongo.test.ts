// The ClusterPort conformance suite on MongoClusterPort against a real mongod replica set, started with
// mongodb-memory-server-core from MONGOMS_SYSTEM_BINARY (or mongod on PATH). Skipped, with the reason in
// the suite title, where no mongod exists.
import { MongoClient } from "mongodb";
import { MongoClusterPort } from "../../provider/cluster/mongo";
import { describeTier, mongodTier } from "../support/tiers";
import { runClusterPortConformance, type ConformanceSubject } from "./cluster-port.conformance";

const tier = mongodTier();

// Loosely typed: the package is an optional devDependency, required only inside the gated suite.
interface ReplSetLike {
  getUri(): string;
  stop(options?: unknown): Promise<unknown>;
}

async function startReplicaSet(): Promise<ReplSetLike> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MongoMemoryReplSet } = require("mongodb-memory-server-core") as {
    MongoMemoryReplSet: { create(options: unknown): Promise<ReplSetLike> };
  };
  return MongoMemoryReplSet.create({
    replSet: { count: 1, storageEngine: "wiredTiger" },
    binary: { systemBinary: process.env.MONGOMS_SYSTEM_BINARY || tier.binary },
  });
}

describeTier(tier, "MongoClusterPort on a real replica set", () => {
  jest.setTimeout(120_000);
  runClusterPortConformance(
    "MongoClusterPort",
    async (): Promise<ConformanceSubject> => {
      const replSet = await startReplicaSet();
      const uri = replSet.getUri();
      const port = await MongoClusterPort.connect(uri);
      const seedClient = new MongoClient(uri);
      await seedClient.connect();
      return {
        port,
        collection: (db, coll) => seedClient.db(db).collection(coll),
        dispose: async () => {
          await port.close();
          await seedClient.close();
          await replSet.stop();
        },
      };
    },
    // Write blocking needs 6.0+; mongodb-memory-server's default binaries are newer. The oplog cannot be
    // truncated on demand, so the truncation test runs on MemoryCluster only (the start-before-history
    // test covers HistoryLostError here).
    { writeBlocking: true, truncation: false },
  );
});
