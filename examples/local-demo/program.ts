// The local demo's Pulumi program (Pulumi.yaml at the repository root runs its compiled form).
//
// One Migration with the builtin engine between two deployments given as secret stack config:
//   pulumi config set --secret sourceUri mongodb://127.0.0.1:27017/?replicaSet=rs0
//   pulumi config set --secret targetUri mongodb://127.0.0.1:27018/?replicaSet=rs1
//   pulumi config set cutover false        # then true, for the cutover
// `npm start` sets these itself: on two local replica sets (full mode) or, without mongod and the Pulumi CLI,
// on in-memory clusters (offline mode, which runs this same file under Pulumi's mocks to get the inputs).
import * as pulumi from "@pulumi/pulumi";
import { Migration } from "pulumi-atlas-migration";

const cfg = new pulumi.Config();

const migration = new Migration("demo", {
  engine: "builtin",
  source: { uri: cfg.requireSecret("sourceUri") },
  target: { uri: cfg.requireSecret("targetUri") },
  namespaces: { exclude: ["scratch.*"] },
  cutover: cfg.getBoolean("cutover") ?? false,
  verificationMode: "full",
  // setUserWriteBlockMode on these 7.0 replica sets: the application's writes are refused during cutover.
  writeBlocking: { mode: "auto" },
  // Small partitions so the demo's biggest collection is copied in parallel pieces, as a large one would be.
  builtin: { partitionDocuments: 1000, replayBatchSize: 200 },
  // A few thousand local documents take seconds; a run that needs more than a minute is a problem worth seeing.
  timeouts: { createMinutes: 1, cutoverMinutes: 1, pollSeconds: 0.2, readyLagSeconds: 5 },
});

export const migrationId = migration.migrationId;
export const phase = migration.phase;
export const lagSeconds = migration.lagSeconds;
export const progress = migration.progress;
export const verification = migration.verification;
export const cutoverCompletedAt = migration.cutoverCompletedAt;
export const warnings = migration.warnings;
