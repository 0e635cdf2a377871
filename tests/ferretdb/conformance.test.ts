// The ClusterPort conformance suite on MongoClusterPort against a real FerretDB (v1, SQLite backend), started
// from FERRETDB_BIN or the ferretdb on PATH (scripts/ferretdb.sh builds one). The instance reports a replica
// set name, as a FerretDB deployment may, so the suite also shows that our port does not trust the topology.
// Tests declare what they need; what the probes say FerretDB lacks is skipped with the probe's answer.
import { MongoClient } from "mongodb";
import { MongoClusterPort } from "../../provider/cluster/mongo";
import { describeTier, ferretdbTier } from "../support/tiers";
import { runClusterPortConformance, type ConformanceSubject } from "../conformance/cluster-port.conformance";
import { conformanceCapabilities } from "./ferretdb-capabilities";
import { startFerretDB, stopAll, type FerretInstance } from "./ferretdb-server";

const tier = ferretdbTier();

describeTier(tier, "MongoClusterPort on FerretDB", () => {
  jest.setTimeout(120_000);
  runClusterPortConformance(
    "MongoClusterPort on FerretDB",
    async (): Promise<ConformanceSubject> => {
      let server: FerretInstance | undefined;
      let seedClient: MongoClient | undefined;
      let port: MongoClusterPort | undefined;
      const dispose = async () => {
        await port?.close().catch(() => undefined);
        await seedClient?.close().catch(() => undefined);
        await stopAll([server]);
      };
      try {
        server = await startFerretDB({ binary: tier.binary!, replSetName: "rs0", label: "conformance" });
        port = await MongoClusterPort.connect(server.uri);
        seedClient = new MongoClient(server.uri);
        await seedClient.connect();
        const seed = seedClient;
        return { port, collection: (db, coll) => seed.db(db).collection(coll), dispose };
      } catch (err) {
        await dispose();
        throw err;
      }
    },
    tier.enabled ? conformanceCapabilities(tier.binary!) : { writeBlocking: false, truncation: false, accessControl: false },
  );
});
