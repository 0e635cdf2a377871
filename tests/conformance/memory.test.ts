// The ClusterPort conformance suite on MemoryCluster (always runs).
import { MemoryCluster } from "../../testing/memory-cluster";
import { runClusterPortConformance } from "./cluster-port.conformance";

runClusterPortConformance(
  "MemoryCluster",
  async () => {
    const cluster = new MemoryCluster();
    return {
      port: cluster,
      collection: (db, coll) => cluster.db(db).collection(coll),
      asUser: async (user, roles) => {
        cluster.addUser(user, "admin", roles);
        const as = cluster.as(user, "admin");
        return { port: as, collection: (db: string, coll: string) => as.db(db).collection(coll) };
      },
      truncateHistory: async () => {
        cluster.truncateChangeLog({ keepLast: 0 });
      },
      dispose: () => cluster.close(),
    };
  },
  { writeBlocking: true, truncation: true, accessControl: true },
);

// The same suite through openCluster("memory://…"), i.e. a separate connection on a registered cluster.
runClusterPortConformance(
  "MemoryCluster via openCluster(memory://)",
  async () => {
    const { openCluster } = await import("../../provider/cluster/open");
    const name = `conformance-${process.pid}`;
    MemoryCluster.remove(name);
    const cluster = MemoryCluster.create(name);
    const port = await openCluster(`memory://${name}`);
    return {
      port,
      collection: (db, coll) => cluster.db(db).collection(coll),
      asUser: async (user, roles) => {
        cluster.addUser(user, "admin", roles);
        const as = await openCluster(`memory://${user}@${name}`);
        const conn = cluster.as(user, "admin");
        return { port: as, collection: (db: string, coll: string) => conn.db(db).collection(coll) };
      },
      truncateHistory: async () => {
        cluster.truncateChangeLog({ keepLast: 0 });
      },
      dispose: async () => {
        await port.close();
        MemoryCluster.remove(name);
      },
    };
  },
  { writeBlocking: true, truncation: true, accessControl: true },
);
