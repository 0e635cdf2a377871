// openCluster: a ClusterPort for a connection string.
//
//   memory://<name>        the MemoryCluster registered under <name> in this process (tests, demos)
//   memory://<user>@<name> the same cluster, acting as a user added with cluster.addUser(user, "admin", …)
//   mongodb://…, mongodb+srv://…  the real driver adapter (MongoClusterPort)
//
// Both implementations are required lazily, so production code never loads the in-memory cluster and tests
// on MemoryCluster never load the driver adapter's connection machinery. MemoryCluster is a test double: it
// lives in testing/memory (shipped as `pulumi-atlas-migration/testing`), not in the product tree; only this
// resolver reaches it, and only for a memory:// string.

import { redact } from "../errors";
import type { ClusterPort } from "./port";

export interface OpenClusterOptions {
  /** Driver options passed to MongoClient (ignored for memory://). */
  driverOptions?: Record<string, unknown>;
  /** Application name reported to the server. */
  appName?: string;
}

export async function openCluster(uri: string, options: OpenClusterOptions = {}): Promise<ClusterPort> {
  if (/^memory:\/\//i.test(uri)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { MemoryCluster } = require("../../testing/memory/memory-cluster") as typeof import("../../testing/memory/memory-cluster");
    const cluster = MemoryCluster.resolve(uri);
    const user = /^memory:\/\/([^@/]+)@/i.exec(uri)?.[1];
    return user ? cluster.as(decodeURIComponent(user.split(":")[0]), "admin") : cluster.connect();
  }
  if (/^mongodb(\+srv)?:\/\//i.test(uri)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { MongoClusterPort } = require("./mongo") as typeof import("./mongo");
    return MongoClusterPort.connect(uri, options);
  }
  throw new Error(redact(`cannot open ${uri}: expected a mongodb://, mongodb+srv:// or memory:// connection string`));
}
