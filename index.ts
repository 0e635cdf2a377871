// pulumi-atlas-migration: declare a MongoDB → MongoDB Atlas migration as Pulumi infrastructure.
// This file only re-exports; each piece lives in its own file.
export { AtlasMigration } from "./components/atlasMigration";
export type { AtlasMigrationArgs } from "./components/atlasMigration";
export { Migration, MigrationProvider, PROVIDER_VERSION } from "./provider/migration";
export type { MigrationArgs } from "./provider/migration";
export type {
  CutoverReport,
  EngineName,
  MigrationEngine,
  MigrationHandle,
  MigrationSpec,
  MigrationStatus,
  Phase,
  PreflightReport,
  VerificationReport,
  WriteBlockingMode,
} from "./provider/engines/engine";
export { redact } from "./provider/errors";
