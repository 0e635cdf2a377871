// Preloaded into Pulumi's dynamic-provider host (`node --require …/memory-preload.js …/cmd/dynamic-provider`):
// a MemoryCluster lives only in the process that made it, and the Migration provider runs inside the host, so the
// host must make the `memory://<name>` clusters a test migrates between. Use it through `memoryClustersInHost`
// (testing/index.ts), which gives DynamicProviderHost the preload and the environment below.
//
// Environment: PULUMI_ATLAS_MIGRATION_MEMORY_CLUSTERS = JSON array of MemoryClusterSeed.
// Seeding needs no I/O (MemoryCluster writes settle in microtasks), so it is done before the host's gRPC server
// answers its first call. With an IPC channel (`ipc: true`), `{ op: "count", cluster, db, coll }` is answered
// with `{ count }`, so a test can see what arrived without printing to the host's stdout (the engine reads its
// first line as the port).
import { MemoryCluster } from "./memory-cluster";

/** One cluster the host creates. */
export interface MemoryClusterSeed {
  name: string;
  /** Seed this far in the past, so the change history covers it (the builtin preflight's oplog-window check). */
  historySeconds?: number;
  /** Documents to insert, by namespace: `{ "shop.orders": [{ _id: 1 }] }`. Plain JSON. */
  documents?: Record<string, Array<Record<string, unknown>>>;
}

export const MEMORY_CLUSTERS_ENV = "PULUMI_ATLAS_MIGRATION_MEMORY_CLUSTERS";

async function seed(specs: MemoryClusterSeed[]): Promise<void> {
  for (const spec of specs) {
    let offsetMs = -1000 * (spec.historySeconds ?? 0);
    const cluster = MemoryCluster.create(spec.name, { now: () => Date.now() + offsetMs });
    for (const [ns, docs] of Object.entries(spec.documents ?? {})) {
      const dot = ns.indexOf(".");
      if (dot <= 0) throw new Error(`${MEMORY_CLUSTERS_ENV}: namespace "${ns}" must be "<db>.<collection>"`);
      if (docs.length) await cluster.db(ns.slice(0, dot)).collection(ns.slice(dot + 1)).insertMany(docs);
    }
    offsetMs = 0;
  }
}

// Only in the host it was preloaded into: importing this module anywhere else (testing/index.ts does, for the
// names above) creates nothing.
const inProviderHost = /[\\/]cmd[\\/]dynamic-provider([\\/]index\.js)?$/.test(process.argv[1] ?? "");
const raw = process.env[MEMORY_CLUSTERS_ENV];
if (raw !== undefined && inProviderHost) {
  const ready = seed(JSON.parse(raw) as MemoryClusterSeed[]);
  ready.catch((err) => {
    console.error(`memory-preload: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
  if (typeof process.send === "function") {
    process.on("message", async (msg: { op?: string; cluster?: string; db?: string; coll?: string }) => {
      if (msg?.op !== "count") return;
      await ready;
      const cluster = MemoryCluster.get(msg.cluster ?? "");
      const count = cluster ? await cluster.db(msg.db!).collection(msg.coll!).countDocuments({}) : undefined;
      process.send!({ op: "count", cluster: msg.cluster, count });
    });
  }
}
