// One builtin migration FerretDB → FerretDB under the real Pulumi CLI (issue 12): `pulumi up`, `pulumi refresh`, the
// cutover flip previewed and applied, `pulumi destroy` — the whole product path with no double in it. Runs where
// both a ferretdb binary (FERRETDB_BIN) and a Pulumi CLI (scripts/pulumi-cli.sh) exist; skipped with the reason
// otherwise. Each operation is a fresh process (tests/e2e/support/cli.ts), so the migration's state lives only in
// the checkpoint on the target FerretDB and in Pulumi's state file.
import { createHash } from "crypto";
import * as path from "path";
import { BSON, Int32, MongoClient, type Document } from "mongodb";
import { ConfigValues, E2eStack, stepsOf } from "../e2e/support/cli";
import { MIGRATION_TYPE } from "../e2e/support/harness";
import { expectOk } from "../e2e/support/suite";
import { describeTier, ferretdbTier, pulumiCliTier, type Tier } from "../support/tiers";
import { startFerretDB, stopAll, type FerretInstance } from "./ferretdb-server";

const ferret = ferretdbTier();
const cli = pulumiCliTier();
const tier: Tier = !ferret.enabled ? ferret : !cli.enabled ? cli : { name: "ferretdb+pulumi-cli", enabled: true, reason: `${ferret.reason}; ${cli.reason}` };
const DOCUMENTS = 400;

async function digest(client: MongoClient, db: string, coll: string): Promise<{ count: number; hash: string }> {
  const h = createHash("sha256");
  let count = 0;
  for await (const doc of client.db(db).collection(coll).find({}, { sort: { _id: 1 }, promoteValues: false, bsonRegExp: true })) {
    h.update(BSON.serialize(doc as Document));
    count++;
  }
  return { count, hash: h.digest("hex") };
}

describeTier(tier, "Pulumi CLI: a builtin migration FerretDB → FerretDB", () => {
  jest.setTimeout(10 * 60 * 1000);
  let source: FerretInstance | undefined;
  let target: FerretInstance | undefined;
  let sourceClient: MongoClient;
  let targetClient: MongoClient;
  let stack: E2eStack | undefined;
  const config = (cutover: boolean): ConfigValues => ({
    sourceUri: { value: source!.uri, secret: true },
    targetUri: { value: target!.uri, secret: true },
    cutover: { value: String(cutover) },
  });

  beforeAll(async () => {
    source = await startFerretDB({ binary: ferret.binary!, replSetName: "rs0", label: "cli-source" });
    target = await startFerretDB({ binary: ferret.binary!, label: "cli-target" });
    sourceClient = new MongoClient(source.uri);
    targetClient = new MongoClient(target.uri);
    await Promise.all([sourceClient.connect(), targetClient.connect()]);
    const orders = sourceClient.db("shop").collection<{ _id: Int32; [key: string]: unknown }>("orders");
    await orders.insertMany(Array.from({ length: DOCUMENTS }, (_, i) => ({ _id: new Int32(i), email: `u${i}@example.com`, total: new Int32(i % 100) })));
    await orders.createIndex({ email: 1 }, { unique: true });
    stack = new E2eStack({ pulumi: cli.binary!, stackName: "ferret", programFile: path.join(__dirname, "program", "index.js") });
  });

  afterAll(async () => {
    try {
      await stack?.dispose();
    } finally {
      await Promise.all([sourceClient?.close().catch(() => undefined), targetClient?.close().catch(() => undefined)]);
      await stopAll([source, target]);
    }
  });

  test("up copies in snapshot mode to READY_FOR_CUTOVER and prints what the source can do", async () => {
    const up = expectOk(await stack!.run("up", { config: config(false) }));
    expect(up.outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    expect(up.stdout).toMatch(/source capabilities: FerretDB v1\.24\.\d+ \(reports MongoDB 7\.0\.\d+\), replicaSet; changeStreams: no/);
    expect(up.stdout).toMatch(/snapshot mode/);
    expect(await targetClient.db("shop").collection("orders").countDocuments()).toBe(DOCUMENTS);
  });

  test("refresh reports the phase; a preview with nothing changed is a no-op", async () => {
    expectOk(await stack!.run("refresh", { config: config(false) }));
    expect(expectOk(await stack!.run("outputs")).outputs!.phase.value).toBe("READY_FOR_CUTOVER");
    const preview = expectOk(await stack!.run("preview", { config: config(false) }));
    expect(stepsOf(preview).find((s) => s.type === MIGRATION_TYPE)?.op).toBe("same");
  });

  test("the cutover flip previews as an update and, applied, reconciles late writes, verifies and completes", async () => {
    const preview = expectOk(await stack!.run("preview", { config: config(true) }));
    expect(stepsOf(preview).find((s) => s.type === MIGRATION_TYPE)?.op).toBe("update");
    // The application wrote after the copy and was then stopped (writeBlocking none): cutover reconciles it.
    const orders = sourceClient.db("shop").collection<{ _id: Int32; [key: string]: unknown }>("orders");
    await orders.insertOne({ _id: new Int32(DOCUMENTS), email: "late@example.com", total: new Int32(1) });
    await orders.updateOne({ _id: new Int32(1) }, { $set: { total: new Int32(-1) } });
    await orders.deleteOne({ _id: new Int32(2) });
    const up = expectOk(await stack!.run("up", { config: config(true) }));
    expect(up.outputs!.phase.value).toBe("COMPLETE");
    expect(up.outputs!.cutoverCompletedAt.value).toEqual(expect.any(String));
    const [s, t] = await Promise.all([digest(sourceClient, "shop", "orders"), digest(targetClient, "shop", "orders")]);
    expect(t).toEqual(s);
    expect(t.count).toBe(DOCUMENTS);
  });

  test("destroy removes the Migration from the stack and leaves the migrated data on the target", async () => {
    expectOk(await stack!.run("destroy"));
    expect(expectOk(await stack!.run("export")).deployment.resources ?? []).not.toContainEqual(expect.objectContaining({ type: MIGRATION_TYPE }));
    expect(await targetClient.db("shop").collection("orders").countDocuments()).toBe(DOCUMENTS);
    // Nor is the source touched: destroy after COMPLETE forgets the migration, nothing else.
    expect(await sourceClient.db("shop").collection("orders").countDocuments()).toBe(DOCUMENTS);
  });
});
