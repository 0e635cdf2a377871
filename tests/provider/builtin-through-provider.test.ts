// The real provider runtime driving the real builtin engine over in-memory clusters (memory:// URIs):
// create syncs, writes during sync are carried over, the cutover update blocks writes and verifies, delete
// keeps the data. Nothing here is scripted.
import { Decimal128, Double, Int32, Long } from "mongodb";
import * as runtime from "../../provider/runtime";
import { MemoryCluster } from "../../testing/memory-cluster";
import { compare, type AnyDoc } from "../engines/builtin/helpers";

let n = 0;
function clusters() {
  n++;
  const source = MemoryCluster.create(`prov-src-${n}`);
  const target = MemoryCluster.create(`prov-dst-${n}`);
  return { source, target, sourceUri: `memory://prov-src-${n}`, targetUri: `memory://prov-dst-${n}` };
}

async function seed(source: MemoryCluster, count: number) {
  const orders = source.db("shop").collection<AnyDoc>("orders");
  await orders.insertMany(
    Array.from({ length: count }, (_, i) => ({
      _id: i,
      qty: new Int32(i % 7),
      total: new Double(i + 0.5),
      big: Long.fromString("9007199254740993"),
      price: Decimal128.fromString("19.99"),
      tags: ["a", { nested: i }],
    })),
  );
  await source.db("shop").collection<AnyDoc>("customers").insertMany([{ _id: "c1", name: "Ada" }, { _id: "c2", name: "Grace" }]);
  await source.db("logs").collection<AnyDoc>("events").insertOne({ _id: 1, msg: "excluded" });
}

beforeEach(() => {
  jest.spyOn(console, "log").mockImplementation(() => undefined);
});
afterEach(() => jest.restoreAllMocks());

test("create → writes during sync → cutover → COMPLETE with equal content → delete keeps target data", async () => {
  const { source, target, sourceUri, targetUri } = clusters();
  await seed(source, 500);
  const inputs = {
    __provider: "p",
    resourceName: "orders",
    providerVersion: "0.1.0",
    source: { uri: sourceUri },
    target: { uri: targetUri },
    namespaces: { exclude: ["logs.*"] },
    cutover: false,
  };
  expect(runtime.check({}, inputs).failures).toEqual([]);

  const { id, outs } = await runtime.create(inputs);
  expect(outs.engine).toBe("builtin");
  expect(outs.phase).toBe("READY_FOR_CUTOVER");
  expect(JSON.stringify(outs.handle)).not.toMatch(/memory:\/\//); // handles hold no connection strings

  // The application keeps writing between `pulumi up` runs.
  const orders = source.db("shop").collection<AnyDoc>("orders");
  await orders.insertOne({ _id: 10_000, late: true });
  await orders.updateOne({ _id: 3 }, { $set: { qty: new Int32(99) } });
  await orders.deleteOne({ _id: 4 });

  const refreshed = await runtime.read(id, outs);
  expect(["SYNCING", "READY_FOR_CUTOVER"]).toContain(refreshed.props.phase);

  const flipped = { ...inputs, cutover: true };
  expect(runtime.diff(id, outs, flipped)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  const { outs: done } = await runtime.update(id, outs, flipped);
  expect(done.phase).toBe("COMPLETE");
  expect(done.verification.passed).toBe(true);
  expect(done.cutoverCompletedAt).toEqual(expect.any(String));
  expect(source.writesBlocked).toBe(true);

  for (const ns of [{ db: "shop", coll: "orders" }, { db: "shop", coll: "customers" }]) {
    const c = await compare(source, target, ns);
    expect({ lost: c.lost, duplicated: c.duplicated, differing: c.differing, extra: c.extra }).toEqual({ lost: 0, duplicated: 0, differing: 0, extra: 0 });
    expect(c.targetHash).toBe(c.sourceHash);
  }
  expect(await target.db("logs").collection("events").countDocuments({})).toBe(0);

  // Re-running the update after COMPLETE changes nothing; destroy forgets and keeps the data.
  const again = await runtime.update(id, done, flipped);
  expect(again.outs.cutoverCompletedAt).toBe(done.cutoverCompletedAt);
  await runtime.destroy(id, done);
  expect(await target.db("shop").collection("orders").countDocuments({})).toBe(500);
});

test("destroy before cutover stops the sync and leaves what was copied", async () => {
  const { source, target, sourceUri, targetUri } = clusters();
  await seed(source, 50);
  const inputs = { __provider: "p", resourceName: "early", source: { uri: sourceUri }, target: { uri: targetUri }, cutover: false };
  const { id, outs } = await runtime.create(inputs);
  await runtime.destroy(id, outs);
  expect(await target.db("shop").collection("orders").countDocuments({})).toBe(50);
  expect(source.writesBlocked).toBe(false);
});

test("preflight failure (standalone source without a way to block writes) stops create before copying", async () => {
  n++;
  const source = MemoryCluster.create(`prov-src-${n}`, { topology: "standalone" });
  MemoryCluster.create(`prov-dst-${n}`);
  await source.db("a").collection<AnyDoc>("b").insertOne({ _id: 1 });
  const inputs = { __provider: "p", resourceName: "solo", source: { uri: `memory://prov-src-${n}` }, target: { uri: `memory://prov-dst-${n}` } };
  await expect(runtime.create(inputs)).rejects.toThrow(/preflight found .*problem/);
});
