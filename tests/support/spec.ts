// A complete MigrationSpec with safe defaults, for engine tests that do not go through the provider's schema.
import type { MigrationSpec } from "../../provider/engines/engine";

export function makeSpec(overrides: Partial<MigrationSpec> = {}): MigrationSpec {
  return {
    migrationId: "mig-test-0001",
    resourceName: "test",
    engine: "builtin",
    source: { uri: "memory://source" },
    target: { uri: "memory://target" },
    namespaces: { include: [], exclude: [] },
    verification: "full",
    writeBlocking: "auto",
    timeouts: { createSeconds: 600, cutoverSeconds: 600, pollSeconds: 1, readyLagSeconds: 5 },
    builtin: {
      batchBytes: 4 * 1024 * 1024,
      parallelCollections: 4,
      partitionDocuments: 100_000,
      replayBatchSize: 500,
      readOnlyUsers: [],
      quietSeconds: 10,
      detachedWorker: false,
    },
    ...overrides,
  };
}
