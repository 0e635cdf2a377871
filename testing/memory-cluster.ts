// The in-memory cluster for tests: `import { MemoryCluster } from "pulumi-atlas-migration/testing"`.
export * from "./memory";
export { compareBson, bsonEquals } from "../provider/cluster/bson-order";
