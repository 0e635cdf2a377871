// The tiny Pulumi program the Automation-API tier runs: one Migration, driven by stack config.
//
// Engine mongosync against a MongosyncEmulator that the test runs in its own process: the emulator outlives
// every `pulumi up` (each one starts a fresh dynamic-provider host), and the mongosync engine never opens
// the source/target connection strings itself, so they can be realistic fakes with passwords in them.
"use strict";
const pulumi = require("@pulumi/pulumi");
const { Migration } = require("pulumi-atlas-migration");

const config = new pulumi.Config();
const migration = new Migration("e2e", {
  engine: "mongosync",
  source: { uri: config.requireSecret("sourceUri") },
  target: { uri: config.requireSecret("targetUri") },
  mongosync: { urls: [config.require("mongosyncUrl")], version: config.get("mongosyncVersion") || "1.19.0" },
  cutover: config.requireBoolean("cutover"),
  timeouts: { pollSeconds: 1, createMinutes: config.getNumber("createMinutes") || 2, cutoverMinutes: 2 },
});

exports.migrationId = migration.migrationId;
exports.phase = migration.phase;
exports.cutoverCompletedAt = migration.cutoverCompletedAt;
