// The builtin engine end to end over MongoClusterPort against two real mongod replica sets (tier 2).
// Skipped, with the reason in the suite title, where no mongod exists (set MONGOMS_SYSTEM_BINARY).
import { createHash } from "crypto";
import { BSON, Decimal128, Double, Int32, Long, MongoClient, type Document } from "mongodb";
import { createBuiltinEngine } from "../../../provider/engines/builtin";
import { makeContext } from "../../support/context";
import { makeSpec } from "../../support/spec";
import { describeTier, mongodTier } from "../../support/tiers";
import { startReplicaSet, type ReplSetLike } from "../../support/mongod";

const tier = mongodTier();

const EXACT = { promoteValues: false, promoteLongs: false, bsonRegExp: true } as const;

async function digest(client: MongoClient, db: string, coll: string): Promise<{ count: number; hash: string }> {
  const h = createHash("sha256");
  let count = 0;
  for await (const doc of client.db(db).collection(coll).find({}, { sort: { _id: 1 }, ...EXACT })) {
    h.update(BSON.serialize(doc as Document));
    count++;
  }
  return { count, hash: h.digest("hex") };
}

describeTier(tier, "builtin engine on real replica sets", () => {
  jest.setTimeout(180_000);
  let source: ReplSetLike;
  let target: ReplSetLike;
  let sourceClient: MongoClient;
  let targetClient: MongoClient;

  beforeAll(async () => {
    [source, target] = await Promise.all([startReplicaSet(), startReplicaSet()]);
    sourceClient = new MongoClient(source.getUri());
    targetClient = new MongoClient(target.getUri());
    await Promise.all([sourceClient.connect(), targetClient.connect()]);
  });

  afterAll(async () => {
    await Promise.all([sourceClient?.close(), targetClient?.close()]);
    await Promise.all([source?.stop(), target?.stop()]);
  });

  test("copy + replay with concurrent writes, cutover with write blocking, hashes equal", async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const orders = sourceClient.db("shop").collection<{ _id: number; [k: string]: any }>("orders");
    await orders.insertMany(
      Array.from({ length: 3000 }, (_, i) => ({
        _id: i,
        i32: new Int32(i),
        l: Long.fromNumber(i * 1_000_000_007),
        d: new Double(i + 0.5),
        dec: Decimal128.fromString(`${i}.10`),
        at: new Date(Date.now() + 86_400_000 + i), // in the future: no TTL deletion during the test
      })),
    );
    await orders.createIndex({ at: 1 }, { expireAfterSeconds: 3600 });
    const spec = makeSpec({
      migrationId: `mongod-${Date.now()}`,
      source: { uri: source.getUri() },
      target: { uri: target.getUri() },
      builtin: { ...makeSpec().builtin, batchBytes: 64 * 1024, partitionDocuments: 1000 },
    });
    const ctx = makeContext({ realTime: true, deadlineMs: 120_000 });
    const engine = createBuiltinEngine();
    const preflight = await engine.preflight(spec, ctx);
    expect(preflight.errors).toEqual([]);
    const handle = await engine.start(spec, ctx);

    let stop = false;
    let k = 0;
    const writer = (async () => {
      while (!stop) {
        k++;
        await orders.insertOne({ _id: 100_000 + k, k });
        await orders.updateOne({ _id: k % 3000 }, { $inc: { i32: 1 } });
        if (k % 4 === 0) await orders.deleteOne({ _id: (k * 7) % 3000 });
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    let status = await engine.advance(spec, handle, ctx);
    for (let i = 0; i < 5 && status.phase !== "READY_FOR_CUTOVER"; i++) status = await engine.advance(spec, handle, ctx);
    stop = true;
    await writer;
    expect(status.phase).toBe("READY_FOR_CUTOVER");

    const report = await engine.cutover(spec, handle, ctx);
    expect(report.verification.passed).toBe(true);
    const [s, t] = await Promise.all([digest(sourceClient, "shop", "orders"), digest(targetClient, "shop", "orders")]);
    expect(t).toEqual(s);
    const ttl = (await targetClient.db("shop").collection("orders").indexes()).find((ix) => ix.expireAfterSeconds !== undefined);
    expect(ttl?.expireAfterSeconds).toBe(3600);
    await sourceClient.db("admin").command({ setUserWriteBlockMode: 1, global: false });
  });
});
