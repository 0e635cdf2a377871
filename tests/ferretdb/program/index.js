// The inline program of the FerretDB × Pulumi CLI test (tests/ferretdb/cli.test.ts): one builtin Migration between
// two real FerretDB processes, driven by stack config. No double anywhere on the product path: the real CLI, the
// real dynamic-provider host, the builtin engine on the real driver, two real MongoDB-wire servers.
"use strict";
const pulumi = require("@pulumi/pulumi");
const { Migration } = require("pulumi-atlas-migration");

module.exports = () => {
  const config = new pulumi.Config();
  const migration = new Migration("ferret", {
    engine: "builtin",
    source: { uri: config.requireSecret("sourceUri") },
    target: { uri: config.requireSecret("targetUri") },
    namespaces: { include: ["shop.*"] },
    // FerretDB has neither setUserWriteBlockMode nor user commands: the application is stopped before cutover.
    writeBlocking: { mode: "none" },
    cutover: config.requireBoolean("cutover"),
    timeouts: { pollSeconds: 1, createMinutes: 5, cutoverMinutes: 5 },
    builtin: { batchBytes: 64 * 1024 },
  });
  return { migrationId: migration.migrationId, phase: migration.phase, cutoverCompletedAt: migration.cutoverCompletedAt };
};
