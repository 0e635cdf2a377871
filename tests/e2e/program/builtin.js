// An inline program for the Pulumi-CLI tier with the builtin engine between two real MongoDB-wire servers
// (FerretDB, started by the test): `pulumi destroy` must leave the target's data where it is.
"use strict";
const pulumi = require("@pulumi/pulumi");
const { Migration } = require("pulumi-atlas-migration");

module.exports = () => {
  const config = new pulumi.Config();
  const migration = new Migration("e2e-builtin", {
    engine: "builtin",
    source: { uri: config.requireSecret("sourceUri") },
    target: { uri: config.requireSecret("targetUri") },
    namespaces: { include: ["shop.*"] },
    // FerretDB has no setUserWriteBlockMode: the application is stopped before the cutover instead.
    writeBlocking: { mode: "none" },
    cutover: config.requireBoolean("cutover"),
    timeouts: { pollSeconds: 1, createMinutes: 5, cutoverMinutes: 5 },
  });
  return { phase: migration.phase };
};
