// Change events over the 16 MB limit (issue 8, finding 10). MemoryCluster enforces mongod's limits
// (testing/memory/large-events.ts cites them): an update event with updateLookup carries the whole
// document AND its updateDescription, so updating a large document makes an event over 16 MB.
import { MemoryCluster } from "../../../testing/memory-cluster";
import { eventTooLargeError } from "../../../testing/memory/large-events";
import type { ChangeEvent } from "../../../provider/cluster/port";
import { nextWholeBatch } from "../../../provider/engines/builtin/replay";
import { compare, expectIdentical, rig, syncUntilReady } from "./helpers";
import type { AnyDoc } from "./helpers";

afterEach(() => MemoryCluster.reset());

const MB = 1024 * 1024;
const BLOBS = { db: "media", coll: "blobs" };

describe("updates of large documents", () => {
  // Before: the stream asked for updateDescription it never used; the ~18 MB event failed every getMore with
  // BSONObjectTooLarge (10334), which is not retryable: every run rethrew it and nothing said why.
  test.each(["7.0.14", "6.0.0", "5.0.20"])("replayed on MongoDB %s (updateDescription left out of the stream)", async (version) => {
    const r = rig({ source: { version } });
    const blobs = r.source.db("media").collection<AnyDoc>("blobs");
    await blobs.insertOne({ _id: 1, body: "a".repeat(9 * MB) });
    const { handle, status } = await syncUntilReady(r);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    await blobs.updateOne({ _id: 1 }, { $set: { body: "b".repeat(9 * MB) } });
    await blobs.insertOne({ _id: 2, small: true });
    const after = await r.engine.advance(r.spec, handle, r.ctx);
    expect(after.reason).toBeUndefined();
    expect(after.phase).toBe("READY_FOR_CUTOVER");
    expectIdentical(await compare(r.source, r.target, BLOBS));
  });
});

describe("events the source cannot deliver", () => {
  // Before: rethrown on every run, never diagnosed. Now FAILED, naming the limit and what to do.
  test("BSONObjectTooLarge on a source without $changeStreamSplitLargeEvent ⇒ FAILED naming the limit and the upgrade", async () => {
    const r = rig({ source: { version: "6.0.4" } });
    await r.source.db("media").collection<AnyDoc>("blobs").insertOne({ _id: 1, n: 1 });
    const { handle, status } = await syncUntilReady(r);
    expect(status.phase).toBe("READY_FOR_CUTOVER");
    await r.source.db("media").collection<AnyDoc>("blobs").insertOne({ _id: 2, n: 2 });
    // What mongod answers for an event it cannot serialize (e.g. a near-16 MB document with a large _id, which
    // the resume token and documentKey repeat).
    r.source.faults.failNext("nextBatch", 1, () => eventTooLargeError(17_000_000, { _id: { _data: "00" } } as unknown as ChangeEvent));
    const failed = await r.engine.advance(r.spec, handle, r.ctx);
    expect(failed.phase).toBe("FAILED");
    expect(failed.reason).toMatch(/larger than the 16 MB BSON limit/);
    expect(failed.reason).toMatch(/MongoDB 6\.0\.4/);
    expect(failed.reason).toMatch(/6\.0\.9\+ or 7\.0\+/);
    expect(failed.reason).toMatch(/BSONObj size: 17000000/);
  });
});

describe("split events are reassembled", () => {
  async function bigUpdate(cluster: MemoryCluster) {
    const coll = cluster.db("media").collection<AnyDoc>("blobs");
    await coll.insertOne({ _id: "k", body: "a".repeat(9 * MB) });
    const t0 = await cluster.clusterTime();
    await coll.updateOne({ _id: "k" }, { $set: { body: "b".repeat(9 * MB) } });
    await coll.insertOne({ _id: "after" });
    return t0!;
  }

  // The fragments arrive one per batch (each ~9 MB; a batch holds 16 MiB); nextWholeBatch follows a batch that
  // ends inside an event until its last fragment, so the resume token is never taken inside one.
  test("fragments across batches become one event with every field; the resume token is then past it", async () => {
    const cluster = new MemoryCluster();
    const t0 = await bigUpdate(cluster);
    const cursor = await cluster.watch({ startAtOperationTime: t0, splitLargeEvents: true });
    const seen: ChangeEvent[] = [];
    for (let i = 0; i < 10 && !seen.some((e) => e.documentKey?._id === "after"); i++) seen.push(...(await nextWholeBatch(cursor, 0)));
    const updates = seen.filter((e) => e.operationType === "update");
    expect(updates).toHaveLength(1);
    expect(updates[0].splitEvent).toBeUndefined();
    expect((updates[0].fullDocument?.body as string).slice(0, 1)).toBe("b");
    expect((updates[0].updateDescription?.updatedFields?.body as string).length).toBe(9 * MB);
    expect(updates[0].ns).toEqual({ db: "media", coll: "blobs" });
    // Resuming where the cursor now stands gives nothing of the split event again.
    const resumed = await cluster.watch({ resumeAfter: cursor.resumeToken()!, splitLargeEvents: true });
    expect(await resumed.nextBatch(0)).toEqual([]);
    await cursor.close();
    await resumed.close();
  });

  test("a stream resumed inside a split event is refused rather than replayed half", async () => {
    const cluster = new MemoryCluster();
    const t0 = await bigUpdate(cluster);
    const cursor = await cluster.watch({ startAtOperationTime: t0, splitLargeEvents: true });
    let first: ChangeEvent | undefined;
    for (let i = 0; i < 5 && !first; i++) first = (await cursor.nextBatch(0)).find((e) => e.splitEvent?.fragment === 1);
    const inside = await cluster.watch({ resumeAfter: first!._id, splitLargeEvents: true });
    await expect(nextWholeBatch(inside, 0)).rejects.toThrow(/resumed inside a split event \(fragment 2 of 2\)/);
    await cursor.close();
    await inside.close();
  });
});
