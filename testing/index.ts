// pulumi-atlas-migration/testing: what we test this package with, offered to users for their own tests.
// - MemoryCluster: an in-memory MongoDB (change log, resume tokens, unique indexes, write blocking, faults);
//   `MemoryCluster.create(name)` makes `memory://<name>` a working source or target in the same process.
// - AtlasApiEmulator / MongosyncEmulator: local HTTP servers that behave like the Atlas Admin API
//   (live migrations) and mongosync's API, errors and rate limits included.
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
