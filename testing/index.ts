// pulumi-atlas-migration/testing: what we test this package with, offered to users for their own tests.
// - MemoryCluster: an in-memory MongoDB (change log, resume tokens, unique indexes, write blocking, faults);
//   `MemoryCluster.create(name)` makes `memory://<name>` a working source or target in the same process.
// - AtlasApiEmulator / MongosyncEmulator: local HTTP servers that behave like the Atlas Admin API
//   (live migrations) and mongosync's API, errors and rate limits included.
// - captureMigrations: Pulumi mocks that record what each Migration was registered with (secrets unwrapped).
// - memoryClustersInHost: DynamicProviderHost options that create seeded memory:// clusters inside the host.
// - DynamicProviderHost: Pulumi's real dynamic-provider host in a child process, driven over gRPC like the
//   engine drives it, to run the serialized Migration provider without the Pulumi CLI.
export * from "./memory-cluster";
export {
  AtlasApiEmulator,
  DEFAULT_SCENARIO,
  type AtlasEmulatorOperation,
  type AtlasEmulatorOptions,
  type EmulatedMigration,
  type EmulatedStage,
  type EmulatorOrg,
  type EmulatorRequest,
  type InjectedFault as AtlasInjectedFault,
  type MigrationScenario,
} from "./atlas-emulator";
export {
  MongosyncEmulator,
  MongosyncMachine,
  type EmulatedState,
  type InjectedFault as MongosyncInjectedFault,
  type LoggedRequest,
  type MongosyncEmulatorOptions,
  type MongosyncEndpoint,
  type MongosyncFault,
} from "./mongosync-emulator";
export {
  DynamicProviderHost,
  HostCallError,
  decodeInitFailure,
  migrationUrn,
  type DiffAnswer,
  type HostOptions,
  type HostProps,
  type InitFailure,
  type MetadataLike,
} from "./pulumi-host";
export { captureMigrations, MIGRATION_TYPE, type CaptureOptions, type Captured, type CapturedResource } from "./capture";
export { MEMORY_CLUSTERS_ENV, type MemoryClusterSeed } from "./memory-preload";

import * as path from "path";
import { MEMORY_CLUSTERS_ENV, type MemoryClusterSeed } from "./memory-preload";

/**
 * The compiled preload (testing/memory-preload.ts). From the TypeScript sources (a test runner's transform) it is
 * the build's copy: `node --require` runs JavaScript only.
 */
export const MEMORY_PRELOAD: string = __filename.endsWith(".ts")
  ? path.join(__dirname, "..", "dist", "testing", "memory-preload.js")
  : path.join(__dirname, "memory-preload.js");

/**
 * DynamicProviderHost options that make `memory://<name>` clusters inside the host, seeded:
 *   const host = await DynamicProviderHost.start({ cwd, ...memoryClustersInHost([{ name: "src", documents: { "shop.orders": docs } }, { name: "dst" }]) });
 */
export function memoryClustersInHost(clusters: MemoryClusterSeed[]): { preload: string[]; env: Record<string, string> } {
  return { preload: [MEMORY_PRELOAD], env: { [MEMORY_CLUSTERS_ENV]: JSON.stringify(clusters) } };
}
