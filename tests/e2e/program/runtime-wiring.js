// The inline program of tests/e2e/runtime-wiring.test.ts: one mongosync Migration driven by stack config, with
// the cutover-readiness rules and the component's "drops at cutover" marker configurable, so the suite can show
// what `pulumi preview` of a cutover PR says under the real CLI.
"use strict";
const pulumi = require("@pulumi/pulumi");
const { Migration } = require("pulumi-atlas-migration");

module.exports = () => {
  const config = new pulumi.Config();
  const readiness = {};
  if (config.getNumber("maxLagSeconds") !== undefined) readiness.maxLagSeconds = config.getNumber("maxLagSeconds");
  if (config.getNumber("maxStatusAgeMinutes") !== undefined) readiness.maxStatusAgeMinutes = config.getNumber("maxStatusAgeMinutes");
  const temporary = config.getNumber("temporaryAccessEntries");
  const migration = new Migration("wired", {
    engine: "mongosync",
    source: { uri: config.requireSecret("sourceUri") },
    target: { uri: config.requireSecret("targetUri") },
    mongosync: { urls: [config.require("mongosyncUrl")], version: "1.19.0" },
    cutover: config.requireBoolean("cutover"),
    timeouts: { pollSeconds: 1, createMinutes: config.getNumber("createMinutes") || 2, cutoverMinutes: 2 },
    ...(Object.keys(readiness).length ? { cutoverReadiness: readiness } : {}),
    ...(temporary ? { declaredBy: "AtlasMigration wired", dropsAtCutover: { temporaryAccessEntries: temporary } } : {}),
  });
  return {
    phase: migration.phase,
    lagSeconds: migration.lagSeconds,
    statusCheckedAt: migration.statusCheckedAt,
  };
};
