// The inline program the Pulumi-CLI tier runs (tests/e2e/support/driver.js): one Migration, driven by stack config.
//
// Engine mongosync against a MongosyncEmulator that the test runs in its own process: the emulator outlives
// every `pulumi up` (each starts a fresh dynamic-provider host), and the mongosync engine never opens the
// source/target connection strings itself, so they can be realistic fakes with passwords in them.
// Resource options come from config too, so one program covers protect/retainOnDelete/deleteBeforeReplace.
"use strict";
const pulumi = require("@pulumi/pulumi");
const { Migration } = require("pulumi-atlas-migration");

module.exports = () => {
  const config = new pulumi.Config();
  const opts = {};
  if (config.getBoolean("protect") !== undefined) opts.protect = config.getBoolean("protect");
  if (config.getBoolean("retainOnDelete") !== undefined) opts.retainOnDelete = config.getBoolean("retainOnDelete");
  if (config.getBoolean("deleteBeforeReplace") !== undefined) opts.deleteBeforeReplace = config.getBoolean("deleteBeforeReplace");
  const migration = new Migration(
    "e2e",
    {
      engine: "mongosync",
      source: { uri: config.requireSecret("sourceUri") },
      target: { uri: config.requireSecret("targetUri") },
      mongosync: { urls: [config.require("mongosyncUrl")], version: config.get("mongosyncVersion") || "1.19.0" },
      cutover: config.requireBoolean("cutover"),
      ...(config.get("verificationMode") ? { verificationMode: config.get("verificationMode") } : {}),
      timeouts: {
        pollSeconds: 1,
        createMinutes: config.getNumber("createMinutes") || 2,
        cutoverMinutes: config.getNumber("cutoverMinutes") || 2,
      },
    },
    opts,
  );
  return {
    migrationId: migration.migrationId,
    phase: migration.phase,
    cutoverCompletedAt: migration.cutoverCompletedAt,
  };
};
