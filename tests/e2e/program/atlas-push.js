// The inline program of tests/e2e/atlas-credentials.test.ts: one atlas-push Migration against the Atlas API
// emulator the test runs. Its Atlas credentials come either from stack config (`mongodbatlas:*`, read by the
// provider's configure) or, with `explicitPublicKey`/`explicitPrivateKey` set, from the atlasCredentials input —
// what AtlasMigration hands the Migration from a mongodbatlas.Provider passed to it.
"use strict";
const pulumi = require("@pulumi/pulumi");
const { Migration } = require("pulumi-atlas-migration");

module.exports = () => {
  const config = new pulumi.Config();
  const explicit = config.get("explicitPublicKey")
    ? { atlasCredentials: { publicKey: config.require("explicitPublicKey"), privateKey: config.requireSecret("explicitPrivateKey"), baseUrl: config.require("atlasBaseUrl") } }
    : {};
  const migration = new Migration("pushed", {
    engine: "atlas-push",
    source: { cloudManager: { groupId: config.require("cmProjectId"), clusterName: "rs0", username: "migrator", password: config.requireSecret("cmPassword"), ssl: true } },
    target: { atlas: { projectId: config.require("atlasProjectId"), clusterName: config.require("clusterName"), tier: "M40" } },
    atlasPush: { orgId: config.require("orgId"), migrationHost: "vm001.example.com" },
    verificationMode: "none",
    cutover: false,
    timeouts: { pollSeconds: 1, createMinutes: 2, cutoverMinutes: 2 },
    ...explicit,
  });
  return { phase: migration.phase, migrationId: migration.migrationId };
};
