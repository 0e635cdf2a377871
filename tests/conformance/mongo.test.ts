// The ClusterPort conformance suite on MongoClusterPort against a real mongod replica set, started with
// mongodb-memory-server-core from MONGOMS_SYSTEM_BINARY (or mongod on PATH). Skipped, with the reason in
// the suite title, where no mongod exists.
import { MongoClient } from "mongodb";
import { MongoClusterPort } from "../../provider/cluster/mongo";
import { describeTier, mongodTier } from "../support/tiers";
import { runClusterPortConformance, type ConformanceSubject } from "./cluster-port.conformance";
import { startReplicaSet } from "../support/mongod";

const tier = mongodTier();

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
    // mongodb-memory-server starts mongod without --auth: every connection bypasses write blocking there.
    { writeBlocking: true, truncation: false, accessControl: false },
  );
});
