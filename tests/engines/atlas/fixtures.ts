// Shared ids, credentials and emulator setup for the Atlas engine tests.
import { AtlasApiEmulator, type AtlasEmulatorOptions } from "../../../testing/atlas-emulator";
import type { AvailableProject } from "../../../provider/engines/atlas/types";
import type { MigrationSpec } from "../../../provider/engines/engine";
import { makeSpec } from "../../support/spec";

export const ORG_ID = "5f0a1b2c3d4e5f6a7b8c9d0e";
export const ATLAS_PROJECT_ID = "6a1b2c3d4e5f6a7b8c9d0e1f";
export const CM_PROJECT_ID = "7b2c3d4e5f6a7b8c9d0e1f2a";
export const API_KEY = { publicKey: "abcdefgh", privateKey: "11111111-2222-3333-4444-555555555555" };
export const SERVICE_ACCOUNT = { clientId: "mdb_sa_id_0123456789abcdef", clientSecret: "mdb_sa_sk_supersecretvalue0123" };

export function cloudManagerProject(overrides: Partial<AvailableProject> = {}): AvailableProject {
  return {
    projectId: CM_PROJECT_ID,
    name: "on-prem",
    migrationHosts: ["vm001.example.com"],
    deployments: [
      { clusterId: "c1", name: "rs0", mongoDBVersion: "7.0.13", featureCompatibilityVersion: "7.0", managed: false, sharded: false, tlsEnabled: true, shardsSize: 0, dbSizeBytes: 8192, oplogSizeMB: 2048 },
    ],
    ...overrides,
  };
}

export function startEmulator(opts: AtlasEmulatorOptions = {}): Promise<AtlasApiEmulator> {
  return AtlasApiEmulator.start({
    apiKeys: [API_KEY],
    serviceAccounts: [SERVICE_ACCOUNT],
    orgs: [{ orgId: ORG_ID, availableProjects: [cloudManagerProject()] }],
    scenario: { validationPolls: 1, newPolls: 1, copyPolls: 2, syncPolls: 1, cutoverPolls: 2 },
    ...opts,
  });
}

export function pushSpec(overrides: Partial<MigrationSpec> = {}): MigrationSpec {
  return makeSpec({
    engine: "atlas-push",
    source: {
      cloudManager: { groupId: CM_PROJECT_ID, clusterName: "rs0", username: "migrator", password: "source-Pa55word!", ssl: true },
    },
    target: { atlas: { projectId: ATLAS_PROJECT_ID, clusterName: "Cluster0", tier: "M40" } },
    verification: "none",
    atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com", dropDestinationData: false, createLinkToken: false },
    ...overrides,
  });
}
