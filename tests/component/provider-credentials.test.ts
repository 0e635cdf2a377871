// Credentials on an explicit mongodbatlas.Provider reach the Migration. A user who configures Atlas through
// `new mongodbatlas.Provider(...)` and passes it to AtlasMigration (`providers: { mongodbatlas: p }`, `provider: p`,
// or on a parent component) has said once which Atlas account to use; the Migration is a dynamic resource that
// cannot use that provider, so the component hands it the provider's credentials (secret), for the engine that
// calls the Atlas API (atlas-push). Credentials given as atlasCredentials win; other engines get none.
//
// Under mocks a provider resource's state is its inputs, as under the engine: a provider's Create answers with its
// (filtered) inputs as outputs (pulumi/pulumi pkg/resource/deploy/providers/registry.go, Registry.Create/Update).
import * as pulumi from "@pulumi/pulumi";
import * as mongodbatlas from "@pulumi/mongodbatlas";
import { captureMigrations, type Captured } from "../../testing/capture";
import type { AtlasMigration as AtlasMigrationClass, AtlasMigrationArgs } from "../../components/atlasMigration";

let captured: Captured;
let AtlasMigration: typeof AtlasMigrationClass;

beforeAll(async () => {
  captured = captureMigrations({
    newResource: (args) =>
      args.type === "mongodbatlas:index/advancedCluster:AdvancedCluster"
        ? { id: `${args.name}-id`, state: { ...args.inputs, connectionStrings: { standardSrv: "mongodb+srv://orders.abcde.mongodb.net" } } }
        : // captureMigrations falls back to its own answer (the Migration's mocked state) when this gives none
          (undefined as unknown as pulumi.runtime.MockResourceResult),
  });
  ({ AtlasMigration } = await import("../../components/atlasMigration"));
});

const CLOUD_MANAGER: AtlasMigrationArgs = {
  projectId: "6a1a2b3c4d5e6f7a8b9c0d1e",
  source: { cloudManager: { groupId: "5f1a2b3c4d5e6f7a8b9c0d1e", clusterName: "legacy" } },
  target: { cluster: { name: "Orders", tier: "M10", provider: "AWS", region: "US_EAST_1" } },
  migration: { engine: "atlas-push", atlasPush: { orgId: "7a1a2b3c4d5e6f7a8b9c0d1e", migrationHost: "mh" } },
};

const KEYS = { publicKey: "pubkey-from-provider", privateKey: "priv-9f8e7d-from-provider", baseUrl: "https://cloud.example.test" };

async function migrationOf(name: string, component: AtlasMigrationClass) {
  await captured.settled(component.migration.urn);
  await captured.settled(component.phase);
  const m = captured.migrations.find((r) => r.name === `${name}-migration`);
  if (!m) throw new Error(`no Migration ${name}-migration was registered`);
  return m;
}

test.each([
  ["providers: { mongodbatlas: p }", (p: mongodbatlas.Provider) => ({ providers: { mongodbatlas: p } })],
  ["provider: p", (p: mongodbatlas.Provider) => ({ provider: p })],
  ["providers: [p]", (p: mongodbatlas.Provider) => ({ providers: [p] })],
] as const)("%s: the Migration gets the provider's credentials, as a secret", async (_title, opts) => {
  const name = `cm-${captured.migrations.length}`;
  const p = new mongodbatlas.Provider(`${name}-explicit`, KEYS);
  const m = await migrationOf(name, new AtlasMigration(name, CLOUD_MANAGER, opts(p) as pulumi.ComponentResourceOptions));
  expect(m.inputs.atlasCredentials).toEqual(KEYS);
  expect(m.secretKeys).toContain("atlasCredentials");
});

test("a provider on a parent component reaches the Migration too; service-account keys and the gov-cloud flag are carried", async () => {
  const p = new mongodbatlas.Provider("sa-explicit", { clientId: "mdb_sa_id_1", clientSecret: "mdb_sa_sk_secret", isMongodbgovCloud: true });
  const platform = new pulumi.ComponentResource("acme:db:Platform", "platform", {}, { providers: { mongodbatlas: p } });
  const m = await migrationOf("sa", new AtlasMigration("sa", CLOUD_MANAGER, { parent: platform }));
  expect(m.inputs.atlasCredentials).toEqual({ clientId: "mdb_sa_id_1", clientSecret: "mdb_sa_sk_secret", isMongodbgovCloud: true });
  expect(m.secretKeys).toContain("atlasCredentials");
});

test("atlasCredentials given to the component win over the provider's", async () => {
  const p = new mongodbatlas.Provider("given-explicit", KEYS);
  const given = { publicKey: "given-pub", privateKey: "given-priv" };
  const m = await migrationOf("given", new AtlasMigration("given", { ...CLOUD_MANAGER, atlasCredentials: given }, { providers: { mongodbatlas: p } }));
  expect(m.inputs.atlasCredentials).toEqual(given);
});

test("an engine that never calls the Atlas API gets no credentials in its state", async () => {
  const p = new mongodbatlas.Provider("ms-explicit", KEYS);
  const args: AtlasMigrationArgs = {
    ...CLOUD_MANAGER,
    source: { uri: "mongodb://app:pw@src.example:27017/?replicaSet=rs0" },
    migrationUser: { username: "migrator", password: "mig-pw" },
    migration: { engine: "mongosync", mongosync: { urls: ["http://10.0.0.5:27182"] } },
  };
  const m = await migrationOf("ms", new AtlasMigration("ms", args, { providers: { mongodbatlas: p } }));
  expect(m.inputs.atlasCredentials).toBeUndefined();
});

test("without an explicit provider nothing is added: stack config reaches the Migration through configure", async () => {
  const m = await migrationOf("plain", new AtlasMigration("plain", CLOUD_MANAGER));
  expect(m.inputs.atlasCredentials).toBeUndefined();
});
