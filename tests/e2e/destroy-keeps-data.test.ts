// `pulumi destroy` never drops the application's data, under the real CLI with real data: the builtin engine
// copies between two FerretDB processes (a MongoDB-wire server; scripts/ferretdb.sh), then the cutover, then
// destroy, and the target is read directly with the driver afterwards. (The Atlas side — the target cluster kept
// by `deletionProtection` — is a component guarantee, tested under mocks in tests/component/atlas-rules.test.ts.)
import * as path from "path";
import { MongoClient } from "mongodb";
import { startFerretDB, stopAll, type FerretInstance } from "../ferretdb/ferretdb-server";
import { describeTier, ferretdbTier, type Tier } from "../support/tiers";
import { E2eStack, killAllSpawned, resourceIn } from "./support/cli";
import { MIGRATION_TYPE } from "./support/harness";
import { expectOk, exportState, tier as cliTier } from "./support/suite";

const ferret = ferretdbTier();
const both: Tier = {
  ...cliTier,
  enabled: cliTier.enabled && ferret.enabled,
  reason: cliTier.enabled && ferret.enabled ? `${cliTier.reason}; ${ferret.reason}` : [cliTier, ferret].filter((t) => !t.enabled).map((t) => t.reason).join("; "),
};
const PROGRAM = path.join(__dirname, "program", "builtin.js");

describeTier(both, "Pulumi CLI: destroy after the cutover keeps the target's data (builtin, FerretDB → FerretDB)", () => {
  jest.setTimeout(15 * 60 * 1000);
  let source: FerretInstance | undefined;
  let target: FerretInstance | undefined;
  let sourceClient: MongoClient | undefined;
  let targetClient: MongoClient | undefined;
  let stack: E2eStack | undefined;
  const cfg = (cutover: boolean) => ({
    sourceUri: { value: source!.uri, secret: true },
    targetUri: { value: target!.uri, secret: true },
    cutover: { value: String(cutover) },
  });

  beforeAll(async () => {
    source = await startFerretDB({ binary: ferret.binary!, replSetName: "rs0", label: "e2e-source" });
    target = await startFerretDB({ binary: ferret.binary!, label: "e2e-target" });
    sourceClient = await new MongoClient(source.uri).connect();
    targetClient = await new MongoClient(target.uri).connect();
    await sourceClient.db("shop").collection("orders").insertMany(Array.from({ length: 500 }, (_, i) => ({ _id: i, sku: `sku-${i}`, qty: i % 7 })) as any[]);
    stack = new E2eStack({ pulumi: cliTier.binary!, stackName: "destroy-keeps", programFile: PROGRAM });
  });
  afterAll(async () => {
    try {
      await stack?.dispose();
    } finally {
      killAllSpawned();
      await Promise.all([sourceClient?.close().catch(() => undefined), targetClient?.close().catch(() => undefined)]);
      await stopAll([source, target]);
    }
  });

  test("up copies, the cutover completes, destroy removes the Migration and leaves every document on the target", async () => {
    expect(expectOk(await stack!.run("up", { config: cfg(false) })).outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    expect(expectOk(await stack!.run("up", { config: cfg(true) })).outputs!.phase.value).toBe("COMPLETE");
    expect(await targetClient!.db("shop").collection("orders").countDocuments({})).toBe(500);

    expectOk(await stack!.run("destroy"));
    expect(resourceIn(await exportState(stack!), MIGRATION_TYPE)).toBeUndefined();
    expect(await targetClient!.db("shop").collection("orders").countDocuments({})).toBe(500);
    expect(await sourceClient!.db("shop").collection("orders").countDocuments({})).toBe(500);
  });
});
