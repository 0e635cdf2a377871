// The in-memory cluster for tests: `import { MemoryCluster } from "pulumi-atlas-migration/testing"`.
export * from "../provider/cluster/memory";
export { compareBson, bsonEquals } from "../provider/cluster/bson-order";
