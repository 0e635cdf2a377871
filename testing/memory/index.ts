// MemoryCluster and its helpers: see memory-cluster.ts.
export { MemoryCluster, type MemoryClusterOptions } from "./memory-cluster";
export { MemoryClusterConnection, MemoryChangeCursor } from "./connection";
export { MemoryCollection, MemoryDb, MemoryFindCursor, type MemoryFindOptions } from "./collection-api";
export { FaultInjector, type FaultOperation, type FaultOptions } from "./faults";
export {
  changeStreamHistoryLostError,
  isRetryableError,
  networkError,
  notWritablePrimaryError,
  serverError,
  shutdownInProgressError,
} from "./errors";
export type { Role } from "./users";
