// pulumi-atlas-migration: declare a MongoDB → MongoDB Atlas migration as Pulumi infrastructure.
// This file only re-exports; each piece lives in its own file. Every type a public signature uses is exported
// here, and none of them depends on zod (tests/component/public-types.test.ts compiles a consumer).
export { AtlasMigration, engineOf } from "./components/atlasMigration";
export type { AtlasMigrationArgs, AtlasMigrationTarget, AtlasCredentialsArgs } from "./components/atlasMigration";
export type { AccessListEntry } from "./components/accessList";
export type { DatabaseUserArgs } from "./components/databaseUsers";
export { TargetCluster, checkNewCluster } from "./components/targetCluster";
export type { NewClusterArgs, TargetClusterArgs, ClusterVerdict } from "./components/targetCluster";
export { migrationRolePlan, customRoleName } from "./components/migrationRole";
export type { MigrationRolePlan, RoleRef } from "./components/migrationRole";
export { Migration, MigrationProvider, PROVIDER_VERSION } from "./provider/migration";
export type {
  CutoverReadinessArgs,
  EngineChoice,
  MigrationArgs,
  MigrationAtlasCredentials,
  MigrationProgress,
  MigrationRollback,
} from "./provider/migration";
export type {
  CutoverReport,
  EngineName,
  MigrationEngine,
  MigrationHandle,
  MigrationSpec,
  MigrationStatus,
  NamespaceVerification,
  Phase,
  PreflightFinding,
  PreflightReport,
  ShardingEntry,
  VerificationMode,
  VerificationReport,
  WriteBlockingMode,
} from "./provider/engines/engine";
export { redact } from "./provider/errors";
