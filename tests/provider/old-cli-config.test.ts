// Stack-config credentials under a Pulumi CLI older than 3.139, in Pulumi's real dynamic-provider host.
//
// Before pulumi/pulumi#17673 (CLI 3.139.0) the engine handed a dynamic provider only the config of its own package,
// `pulumi-nodejs:*` (pkg/resource/deploy/target.go GetPackageConfig filtered every other namespace out), so the
// `mongodbatlas:*` credentials a user set with `pulumi config set` never reached `configure`. Here that is an
// empty Configure, exactly what such an engine sends for a stack whose config is all `mongodbatlas:*` and project
// keys; a 3.139+ engine sends every key with its namespace. The program side records which `mongodbatlas:*` keys
// the stack has (names only) in the serialized provider, so the provider can tell "not set" from "not delivered".
//
// The CLI itself is not downgraded here: building a 3.138 CLI from its Go module would cost a second cold build
// of the whole CLI in CI for one message; the host is the part that differs, and it is the real one.
import { spawnSync } from "child_process";
import * as pulumi from "@pulumi/pulumi";
import { DynamicProviderHost, HostCallError, migrationUrn, type HostProps } from "../../testing/pulumi-host";
import { ATLAS_PROJECT_ID, CM_PROJECT_ID, ORG_ID } from "../engines/atlas/fixtures";
import { assertBuilt, REPO_ROOT } from "./support/provider-text";

const KEYS = ["mongodbatlas:privateKey", "mongodbatlas:publicKey"];
const VALUES = { "mongodbatlas:publicKey": "pubkey-set-by-config", "mongodbatlas:privateKey": "privkey-5e3c2b1a-set-by-config" };

/** The compiled provider serialized in a fresh process, carrying `keys` as the program's mongodbatlas:* keys. */
function providerText(keys: string[] | undefined): string {
  assertBuilt();
  const script = `
    const pulumi = require("@pulumi/pulumi");
    const { MigrationProvider } = require("./dist/provider/migration.js");
    const keys = JSON.parse(process.argv[1]);
    const provider = keys === null ? new MigrationProvider() : new MigrationProvider(keys);
    pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true }).then((sf) => process.stdout.write(sf.text));
  `;
  const run = spawnSync(process.execPath, ["-e", script, JSON.stringify(keys ?? null)], { cwd: REPO_ROOT, encoding: "utf8", timeout: 30000 });
  if (run.status !== 0) throw new Error(`serializing the provider failed:\n${run.stderr}`);
  return run.stdout;
}

const atlasPush = (over: HostProps = {}): HostProps => ({
  resourceName: "orders",
  engine: "atlas-push",
  source: { cloudManager: { groupId: CM_PROJECT_ID, clusterName: "rs0" } },
  target: { atlas: { projectId: ATLAS_PROJECT_ID, clusterName: "Cluster0", tier: "M40" } },
  atlasPush: { orgId: ORG_ID, migrationHost: "vm001.example.com" },
  cutover: false,
  ...over,
});
const mongosync: HostProps = {
  resourceName: "orders",
  engine: "mongosync",
  source: { uri: "mongodb://app:pw@src1.example:27017/?replicaSet=rs0" },
  target: { uri: "mongodb+srv://migrator:pw@cluster0.abcde.mongodb.net" },
  mongosync: { urls: ["http://127.0.0.1:1"] },
  cutover: false,
};
const urn = migrationUrn("orders");

describe("a CLI that delivers no stack config (older than 3.139)", () => {
  let host: DynamicProviderHost;
  let text: string;
  beforeAll(async () => {
    text = providerText(KEYS);
    host = await DynamicProviderHost.start({ cwd: REPO_ROOT, callTimeoutMs: 60_000 });
    await host.configure({});
  });
  afterAll(() => host?.stop());

  test("check (so `pulumi preview`) names the keys that did not arrive, the minimum CLI and the explicit way", async () => {
    const { failures } = await host.check(urn, {}, { ...atlasPush(), __provider: text });
    expect(failures).toEqual([{ property: "atlasCredentials", reason: expect.stringContaining("mongodbatlas:privateKey, mongodbatlas:publicKey is set but did not reach") }]);
    expect(failures[0].reason).toMatch(/older than 3\.139\.0.*Upgrade the Pulumi CLI to 3\.139\.0 or newer.*atlasCredentials: \{ publicKey: atlas\.require\("publicKey"\)/);
  });

  test("create and refresh fail with the same message before calling Atlas", async () => {
    const create = await host.create(urn, { ...atlasPush(), __provider: text }).catch((e) => e);
    expect(create).toBeInstanceOf(HostCallError);
    expect(create.message).toMatch(/did not reach the Migration's provider.*older than 3\.139\.0.*Nothing was started/);
    const stored = { ...atlasPush(), __provider: text, migrationId: "orders-0123", phase: "SYNCING", engine: "atlas-push", requestedEngine: "atlas-push", handle: { liveMigrationId: "6b0c1d2e3f4a5b6c7d8e9f00" } };
    const read = await host.read(urn, "orders-0123", stored, atlasPush()).catch((e) => e);
    expect(read).toBeInstanceOf(HostCallError);
    expect(read.message).toMatch(/older than 3\.139\.0/);
  });

  test("credentials given as atlasCredentials need no stack config: no failure", async () => {
    const inputs = { ...atlasPush({ atlasCredentials: { publicKey: "given", privateKey: "given-secret" } }), __provider: text };
    expect((await host.check(urn, {}, inputs)).failures).toEqual([]);
  });

  test("an engine that never calls the Atlas API is not stopped", async () => {
    expect((await host.check(urn, {}, { ...mongosync, __provider: text })).failures).toEqual([]);
  });

  test("a provider serialized by an older version of this package (no key names) behaves as before", async () => {
    expect((await host.check(urn, {}, { ...atlasPush(), __provider: providerText(undefined) })).failures).toEqual([]);
  });
});

describe("a CLI that delivers the stack config (3.139 and later)", () => {
  let host: DynamicProviderHost;
  beforeAll(async () => {
    host = await DynamicProviderHost.start({ cwd: REPO_ROOT, callTimeoutMs: 60_000 });
    // Every key, namespace kept, as pkg/resource/deploy/target.go sends it to pulumi-nodejs since 3.139.
    await host.configure({ ...VALUES, "atlas-migration-test:sourceUri": "mongodb://x" });
  });
  afterAll(() => host?.stop());

  test("check passes", async () => {
    expect((await host.check(urn, {}, { ...atlasPush(), __provider: providerText(KEYS) })).failures).toEqual([]);
  });
});

describe("the program side", () => {
  test("a Migration serializes the names of the stack's mongodbatlas:* keys into its provider, never their values", async () => {
    const seen: Array<Record<string, any>> = [];
    pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          seen.push(args.inputs);
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "atlas-migration-test",
      "test",
    );
    pulumi.runtime.setAllConfig({ ...VALUES, "mongodbatlas:region": "US_EAST_1", "mongodbatlas:baseUrl": "", "atlas-migration-test:other": "x" });
    const { Migration } = await import("../../provider/migration");
    const m = new Migration("orders", atlasPush() as any);
    await new Promise((resolve) => pulumi.output(m.urn).apply(resolve));
    const text = String(seen.find((i) => i.__provider)?.__provider);
    expect(text).toContain('["mongodbatlas:privateKey", "mongodbatlas:publicKey", "mongodbatlas:region"]');
    for (const value of Object.values(VALUES)) expect(text).not.toContain(value);
    // Set but empty: the provider reads it as unset too, so it is not expected to arrive.
    expect(text).not.toContain("mongodbatlas:baseUrl");
  });
});
