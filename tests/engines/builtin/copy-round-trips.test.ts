// The copy's round trips in series (issue 11): on a slow link what a copy costs beyond its data is the metadata
// calls, checkpoints and state writes it makes one after another. Counted on a network the test steps (nothing
// is timed), and the lease fencing that overlapping them must keep.
import { MemoryCluster } from "../../../testing/memory-cluster";
import { runCopy } from "../../../provider/engines/builtin/copy";
import { newOwnerId, StateSession } from "../../../provider/engines/builtin/state";
import { compare, expectIdentical, openPatchingTarget, rig, seed, type Rig } from "./helpers";
import { steppedEnv, SteppedNetwork, stepUntil } from "./stepped-network";

afterEach(() => MemoryCluster.reset());

/** start (with the network open), then a run environment over the stepped network for runCopy from a fresh plan. */
async function steppedCopy(r: Rig, net: SteppedNetwork) {
  await r.engine.start(r.spec, r.ctx);
  return steppedEnv(r, net);
}

describe("round trips in series of a copy", () => {
  // Two small collections (one batch each, one with a secondary index). Before: listCollections, collStats, lastId,
  // partition records, the plan's state write, createCollection with the partitions read back, the scan, a lease
  // check, the write, its checkpoint, the empty read that ends the scan, the bound's read, its lease check and
  // write, its checkpoint, the "done" checkpoint, progress, createIndexes, the final state write: 18 or more. Now
  // the collections are created while the copy is planned, lastId rides with collStats, the scans and the bound's
  // read start while the partitions are being stored, the plan's write is the first writes' lease check, a short
  // batch ends the scan, the last checkpoint says "done", and progress is not in anyone's way.
  test("two small collections are copied in at most 8 round trips in series, identical", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 40);
    await seed(r.source, "shop", "users", 25);
    await r.source.db("shop").collection("users").createIndex({ s: 1 });
    const net = new SteppedNetwork();
    const { env, session } = await steppedCopy(r, net);

    net.held = true;
    let outcome: string | undefined;
    const run = runCopy(env).then((o) => void (outcome = o));
    const steps = await stepUntil(net, () => outcome !== undefined, 100);
    net.release();
    await run;

    expect(outcome).toBe("done");
    // On failure, what went in series (the trace is the message).
    if (steps > 8) throw new Error(`${steps} round trips in series:\n${net.trace.map((names, i) => `${i + 1}: ${names.join(", ")}`).join("\n")}`);
    expect(session.state.copy).toMatchObject({ done: true, copiedDocuments: 65, totalDocuments: 65 });
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "users" }));
    const users = (await r.target.connect().listCollections()).find((c) => c.name === "users");
    expect(users?.indexes.map((ix) => ix.name)).toContain("s_1");
  });
});

describe("what the first writes wait for", () => {
  // An insert into a collection that does not exist yet creates it with no options, and creating it afterwards
  // with its options is answered as "already exists" (MongoClusterPort.createCollection tolerates
  // NamespaceExists of the same kind): the writes must wait for the creation, however long it takes.
  test("writes wait for the target's collections to be created with their options, even when that is slow", async () => {
    const r = rig();
    const options = { collation: { locale: "fr", strength: 2 }, validator: { n: { $type: "int" } }, validationLevel: "moderate" };
    await r.source.db("shop").createCollection("orders", options);
    await seed(r.source, "shop", "orders", 40);
    const net = new SteppedNetwork(1, "shop", { createCollection: 6 });
    const { env } = await steppedCopy(r, net);
    net.held = true;
    let outcome: string | undefined;
    const run = runCopy(env).then((o) => void (outcome = o));
    await stepUntil(net, () => outcome !== undefined, 100);
    net.release();
    await run;
    expect(outcome).toBe("done");
    const orders = (await r.target.connect().listCollections()).find((c) => c.name === "orders");
    expect(orders?.options).toMatchObject(options);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });
});

describe("lease fencing of copy writes", () => {
  // Overlapping the plan's write, the scans and the checks must not let a copier go on writing once another
  // process holds the lease: at most the writes whose check had passed already (one window per partition).
  test("once another process has taken the lease, the old copier writes at most what had passed its check, and stops", async () => {
    const r = rig({ builtin: { batchBytes: 64 * 1024, parallelCollections: 2 } });
    await seed(r.source, "shop", "orders", 3000, (i) => ({ _id: i, pad: "x".repeat(200) }));
    let writes = 0;
    let takenOver = false;
    let writesAfterTakeover = 0;
    const open = openPatchingTarget(r, (port) => {
      const bulkWrite = port.bulkWrite.bind(port);
      port.bulkWrite = async (ns, ops, ordered, options) => {
        if (ns.coll === "orders") {
          if (takenOver) writesAfterTakeover++;
          else if (++writes === 3) {
            const thief = new StateSession(port.checkpoints(r.spec.migrationId), newOwnerId("thief"), r.ctx.now, 600_000);
            await thief.acquire(true);
            takenOver = true;
          }
        }
        return bulkWrite(ns, ops, ordered, options);
      };
    });
    const engine = r.makeEngine({ open });
    const handle = await engine.start(r.spec, r.ctx);
    const status = await engine.advance(r.spec, handle, r.ctx);
    expect(takenOver).toBe(true);
    expect(status.phase).not.toBe("READY_FOR_CUTOVER");
    expect(status.details?.leaseHolder).toContain("thief@");
    // FAST_WINDOW (2) writes in flight per partition, at most parallelCollections partitions on a fast link: 4.
    expect(writesAfterTakeover).toBeLessThanOrEqual(4);
    const onTarget = await r.target.connect().countDocuments({ db: "shop", coll: "orders" });
    expect(onTarget).toBeLessThan(3000);
  });
});

describe("the checkpoint that says done", () => {
  // The last partition's bound is written as its pass starts, beside the range: were its partition marked done
  // before that write has landed, a crash then would leave a document that existed before T0 (so no change
  // event brings it) missing from the target for good.
  test("a partition is marked done only once the write of its bound has landed", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 30);
    let boundLanded = false;
    let doneBeforeBound = false;
    let boundWrites = 0;
    const open = openPatchingTarget(r, (port) => {
      const bulkWrite = port.bulkWrite.bind(port);
      port.bulkWrite = async (ns, ops, ordered, options) => {
        const carriesBound = ns.coll === "orders" && ops.some((op) => "insertOne" in op && Number(op.insertOne.document._id) === 29);
        if (!carriesBound) return bulkWrite(ns, ops, ordered, options);
        boundWrites++;
        // Long enough for the rest of the range to be written and checkpointed meanwhile.
        for (let i = 0; i < 50; i++) await new Promise((res) => setImmediate(res));
        const outcome = await bulkWrite(ns, ops, ordered, options);
        boundLanded = true;
        return outcome;
      };
      const checkpoints = port.checkpoints.bind(port);
      port.checkpoints = (id) => {
        const store = checkpoints(id);
        return {
          get: (k) => store.get(k),
          put: async (k, value) => {
            if (k.startsWith("part:shop.orders") && value.done === true && !boundLanded) doneBeforeBound = true;
            return store.put(k, value);
          },
          compareAndSet: (k, v, value) => store.compareAndSet(k, v, value),
          clear: () => store.clear(),
        };
      };
    });
    const engine = r.makeEngine({ open });
    const handle = await engine.start(r.spec, r.ctx);
    expect((await engine.advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    expect(boundWrites).toBe(1);
    expect(doneBeforeBound).toBe(false);
    expectIdentical(await compare(r.source, r.target, { db: "shop", coll: "orders" }));
  });
});
