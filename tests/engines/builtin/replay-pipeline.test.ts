// The replay pipeline (issue 11): serial round trips per applied batch, per-key order across overlapping applies,
// checkpoints that only cover what the target acknowledged, the change stream's own await instead of a sleep,
// `create` on an empty source without waiting out a poll, and exact `_id` keys. Nothing here is timed: round
// trips are counted on a network the test releases one step at a time, and waits pass on a clock the test owns.
import { Decimal128, Double, Int32, Long, ObjectId } from "mongodb";
import { MemoryCluster } from "../../../testing/memory-cluster";
import type { ChangeCursor, CheckpointStore, ClusterPort, WriteOperation } from "../../../provider/cluster/port";
import { bsonKey } from "../../../provider/cluster/bson-order";
import { createBuiltinEngine } from "../../../provider/engines/builtin";
import { makeRunEnv } from "../../../provider/engines/builtin/env";
import { runReplay } from "../../../provider/engines/builtin/replay";
import { idKey, laneOf } from "../../../provider/engines/builtin/replay-keys";
import { newOwnerId, StateSession, STATE_KEY, type MigrationState } from "../../../provider/engines/builtin/state";
import type { EngineContext } from "../../../provider/engines/engine";
import { makeSpec } from "../../support/spec";
import { compare, exactDocs, expectIdentical, rig, seed, syncUntilReady, type AnyDoc, type Rig } from "./helpers";
import { settle, steppedEnv, SteppedNetwork, stepUntil } from "./stepped-network";

afterEach(() => MemoryCluster.reset());

const ORDERS = { db: "shop", coll: "orders" };

/** A replay run over the stepped network, after the copy is done (set up with the network open). */
const steppedReplay = steppedEnv;

describe("round trips per applied batch", () => {
  // Before: read, lease check, write, clusterTime and checkpoint one after another — 5 serial round trips per
  // batch (7 when a batch took two flushes). Now the reads run ahead, the lag's clusterTime rides with the
  // writes, the checkpoint with the next apply's lease check: 2 per apply, and an apply takes what was read.
  test("a backlog of 12 batches is applied in at most 2 serial round trips per batch, and no key is overtaken", async () => {
    const r = rig({ source: { maxEventsPerBatch: 100 }, builtin: { replayBatchSize: 100 } });
    await seed(r.source, "shop", "orders", 1200);
    await syncUntilReady(r);
    const net = new SteppedNetwork();
    const { env, session } = await steppedReplay(r, net);
    const before = session.state.replay.appliedEvents;
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    for (let i = 0; i < 1200; i++) await orders.updateOne({ _id: i }, { $set: { v: i } });

    net.held = true;
    const run = runReplay(env, "drained");
    const steps = await stepUntil(net, () => session.state.replay.appliedEvents >= before + 1200);
    net.release();
    expect(await run).toBe("drained");

    expect(net.nonEmptyBatches).toBe(12);
    expect(steps / net.nonEmptyBatches).toBeLessThanOrEqual(2);
    expect(net.overtakes).toBe(0);
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });

  test("deletes and re-inserts of the same keys in successive batches stay in order while applies overlap reads", async () => {
    const r = rig({ source: { maxEventsPerBatch: 3 }, builtin: { replayBatchSize: 2 } });
    await seed(r.source, "shop", "orders", 6);
    await syncUntilReady(r);
    // Writes take two steps, so an apply that did not wait for the previous one's writes would overtake them.
    const net = new SteppedNetwork(2);
    const { env, session } = await steppedReplay(r, net);
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    let writes = 0;
    for (let round = 0; round < 8; round++) {
      for (let k = 0; k < 3; k++) {
        await orders.deleteOne({ _id: k });
        await orders.insertOne({ _id: k, round, k });
        await orders.replaceOne({ _id: k }, { round, k, replaced: true });
        writes += 3;
      }
      if (round % 3 === 2) {
        await orders.deleteOne({ _id: 5 });
        await orders.insertOne({ _id: 5, round });
        writes += 2;
      }
    }
    const before = session.state.replay.appliedEvents;
    net.held = true;
    const run = runReplay(env, "drained");
    await stepUntil(net, () => session.state.replay.appliedEvents >= before + writes);
    net.release();
    await run;
    expect(net.overtakes).toBe(0);
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });
});

describe("the checkpoint covers only what the target acknowledged", () => {
  function nonRetryable(message: string): Error {
    return Object.assign(new Error(message), { code: 2, codeName: "BadValue" });
  }

  /** `advance` returns once the lag is small, after an apply or two: advance until the target caught up. */
  async function advanceUntilCaughtUp(r: Rig, handle: Awaited<ReturnType<typeof syncUntilReady>>["handle"]): Promise<void> {
    for (let i = 0; i < 100 && (await compare(r.source, r.target, ORDERS)).differing > 0; i++) {
      expect((await r.makeEngine().advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    }
  }

  async function updatesAfterCopy(r: Rig, n: number): Promise<void> {
    const orders = r.source.db("shop").collection<AnyDoc>("orders");
    for (let i = 0; i < n; i++) await orders.updateOne({ _id: i }, { $set: { v: i, after: true } });
  }

  // A crash after an apply's writes and before its checkpoint: the rerun starts from the checkpoint before them
  // and applies them again, so nothing is skipped.
  test("a fault between apply and checkpoint: the rerun re-applies that apply, and the target matches", async () => {
    const r = rig({ source: { maxEventsPerBatch: 5 }, builtin: { replayBatchSize: 5 } });
    await seed(r.source, "shop", "orders", 60);
    const { handle } = await syncUntilReady(r);
    const tokenBefore = ((await r.target.connect().checkpoints(r.spec.migrationId).get(STATE_KEY)) as MigrationState).replay.resumeToken;
    await updatesAfterCopy(r, 60);
    let armed = false;
    const open = async (uri: string): Promise<ClusterPort> => {
      const port = MemoryCluster.resolve(uri).connect();
      if (uri !== r.spec.target.uri) return port;
      const bulkWrite = port.bulkWrite.bind(port);
      port.bulkWrite = async (ns, ops, ordered, options) => {
        const out = await bulkWrite(ns, ops, ordered, options);
        // The first replay write is acknowledged; the checkpoint that follows it is lost.
        if (ns.coll === "orders" && ordered && !armed) {
          armed = true;
          r.target.faults.failNext("checkpoint.compareAndSet", 1, () => nonRetryable("crash before the checkpoint"));
        }
        return out;
      };
      return port;
    };
    await expect(r.makeEngine({ open }).advance(r.spec, handle, r.ctx)).rejects.toThrow(/crash before the checkpoint/);
    const after = (await r.target.connect().checkpoints(r.spec.migrationId).get(STATE_KEY)) as MigrationState;
    expect(after.replay.resumeToken).toBe(tokenBefore);
    await advanceUntilCaughtUp(r, handle);
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });

  // Kills "checkpoint the cursor's current token": with batches read ahead, that token covers events no write
  // has carried yet; a crash in the next apply would then skip them for good.
  test("a write that fails after earlier applies were checkpointed loses nothing read ahead of it", async () => {
    const r = rig({ source: { maxEventsPerBatch: 5 }, builtin: { replayBatchSize: 1 } });
    await seed(r.source, "shop", "orders", 80);
    const { handle } = await syncUntilReady(r);
    await updatesAfterCopy(r, 80);
    let replayWrites = 0;
    const open = async (uri: string): Promise<ClusterPort> => {
      const port = MemoryCluster.resolve(uri).connect();
      if (uri !== r.spec.target.uri) return port;
      const bulkWrite = port.bulkWrite.bind(port);
      port.bulkWrite = async (ns, ops, ordered, options) => {
        // Applies of 4 lanes × 1 operation: the 9th write is in the third apply, after two checkpoints.
        if (ns.coll === "orders" && ordered && ++replayWrites === 9) throw nonRetryable("the target refused the write");
        return bulkWrite(ns, ops, ordered, options);
      };
      return port;
    };
    const engine = createBuiltinEngine({ open });
    // Each advance returns once caught up to the lag target (after an apply or two); the ninth write fails.
    let failure: unknown;
    for (let i = 0; i < 20 && !failure; i++) failure = await engine.advance(r.spec, handle, r.ctx).then(() => undefined, (err: unknown) => err);
    expect(String(failure)).toMatch(/the target refused the write/);
    const state = (await r.target.connect().checkpoints(r.spec.migrationId).get(STATE_KEY)) as MigrationState;
    expect(state.replay.appliedEvents).toBeGreaterThan(0); // some applies were checkpointed before the failure
    await advanceUntilCaughtUp(r, handle);
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });
});

/**
 * A clock only the test moves: `sleep` resolves when `advance` passes its time. With the clusters awaiting on it
 * too, anything that completes while the test does not advance it needed no wait at all.
 */
function manualClock(start = Date.parse("2026-01-01T00:00:00Z")) {
  let now = start;
  let timers: Array<{ at: number; resolve: () => void }> = [];
  return {
    now: () => now,
    sleep: (ms: number) => new Promise<void>((resolve) => timers.push({ at: now + Math.max(0, ms), resolve })),
    sleeps: () => timers.length,
    advance(ms: number): void {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.resolve();
    },
  };
}

function manualRig(name: string) {
  const clock = manualClock();
  const source = MemoryCluster.create(`${name}-src`, { now: clock.now, sleep: clock.sleep });
  const target = MemoryCluster.create(`${name}-dst`, { now: clock.now, sleep: clock.sleep });
  const base = makeSpec({ source: { uri: `memory://${name}-src` }, target: { uri: `memory://${name}-dst` } });
  const spec = { ...base, migrationId: `${name}-mig` };
  const engineSleeps: number[] = [];
  const ctx: EngineContext = {
    deadline: clock.now() + 3_600_000,
    log: () => undefined,
    credentials: {},
    publishSecret: () => undefined,
    now: clock.now,
    sleep: (ms) => (engineSleeps.push(ms), clock.sleep(ms)),
  };
  return { clock, source, target, spec, ctx, engineSleeps };
}

/** Awaits `p` while the clock stands still; undefined if it cannot finish without time passing. */
async function withoutTime<T>(p: Promise<T>): Promise<T | undefined> {
  let out: { value: T } | undefined;
  void p.then((value) => (out = { value }));
  await settle(40);
  return out?.value;
}

describe("the change stream's own await instead of a sleep", () => {
  // Before: an empty poll was followed by ctx.sleep(1000), so a write made then waited for the sleep (~1.2 s).
  test("an isolated write on an idle stream is applied within the await in progress, with no time passing", async () => {
    const m = manualRig("await");
    await m.source.db("shop").collection<AnyDoc>("orders").insertMany([{ _id: 1 }, { _id: 2 }]);
    const engine = createBuiltinEngine();
    const handle = await engine.start(m.spec, m.ctx);
    const status = await withoutTime(engine.advance(m.spec, handle, m.ctx));
    expect(status?.phase).toBe("READY_FOR_CUTOVER");

    const session = new StateSession(m.target.connect().checkpoints(m.spec.migrationId), newOwnerId("idle"), m.ctx.now);
    await session.load();
    expect(await session.acquire()).toBe(true);
    const env = makeRunEnv({ spec: m.spec, source: m.source.connect(), target: m.target.connect(), session, ctx: m.ctx });
    const run = runReplay(env, "forever");
    // Idle for three awaits: each ends only because the clock passes it.
    for (let i = 0; i < 3; i++) {
      await settle(20);
      m.clock.advance(env.replayWaitMs);
    }
    await settle(20);
    const appliedBefore = env.metrics.appliedEvents;
    await m.source.db("shop").collection<AnyDoc>("orders").insertOne({ _id: 3, lone: true });
    await settle(40); // the clock stands still
    expect(env.metrics.appliedEvents).toBe(appliedBefore + 1);
    expect((await exactDocs(m.target, ORDERS)).map((d) => Number(d._id))).toEqual([1, 2, 3]);
    expect(m.engineSleeps).toEqual([]); // replay never slept: the stream's await paced it
    m.clock.advance(3_600_000);
    for (let i = 0; i < 10 && m.clock.sleeps() > 0; i++) (await settle(20), m.clock.advance(1000));
    expect(await run).toBe("stopped");
  });

  test("`create` on an empty source reaches READY_FOR_CUTOVER without waiting out a poll", async () => {
    const m = manualRig("empty");
    const engine = createBuiltinEngine();
    const handle = await withoutTime(engine.start(m.spec, m.ctx));
    expect(handle).toBeDefined();
    const status = await withoutTime(engine.advance(m.spec, handle!, m.ctx));
    expect(status?.phase).toBe("READY_FOR_CUTOVER");
  });
});

describe("exact _id keys", () => {
  test("numbers of different BSON types, their string, and other types never share a key; equal values do", () => {
    const ids: unknown[] = [
      1,
      new Double(1),
      Long.fromNumber(1),
      "1",
      Decimal128.fromString("1"),
      -0,
      0,
      2 ** 31,
      1.5,
      new ObjectId("0123456789abcdef01234567"),
      "0123456789abcdef01234567",
      null,
      { a: 1 },
      [1],
      new Date(1),
      Long.fromNumber(2 ** 31),
    ];
    const keys = ids.map(idKey);
    expect(new Set(keys).size).toBe(ids.length);
    // The same BSON value keys the same, however the driver handed it over.
    expect(idKey(new Int32(1))).toBe(idKey(1));
    expect(idKey(Long.fromNumber(7))).toBe(idKey(Long.fromString("7")));
    expect(idKey(new ObjectId("0123456789abcdef01234567"))).toBe(idKey(new ObjectId("0123456789abcdef01234567")));
    expect(idKey(new Double(2.5))).toBe(idKey(2.5));
  });

  test("values mongod holds as the same _id share a lane", () => {
    for (const n of [0, 1, 7, 12345, -3]) {
      const lanes = [n, new Int32(n), new Double(n), Long.fromNumber(n), Decimal128.fromString(String(n))].map((v) => laneOf(v, 4));
      expect(new Set(lanes).size).toBe(1);
    }
    expect(laneOf(-0, 4)).toBe(laneOf(0, 4));
  });

  test("Int32 1 deleted and Double 1.0 inserted in one batch: the target ends with the Double, and '1' stays apart", async () => {
    const r = rig();
    await seed(r.source, "shop", "orders", 3);
    const { handle } = await syncUntilReady(r);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const orders = r.source.db("shop").collection<{ _id: any; [key: string]: unknown }>("orders");
    await orders.insertOne({ _id: "1", kind: "string" });
    await orders.deleteOne({ _id: new Int32(1) });
    await orders.insertOne({ _id: new Double(1), kind: "double" });
    await orders.insertOne({ _id: Long.fromNumber(10), kind: "long" });
    await orders.updateOne({ _id: "1" } as never, { $set: { touched: true } });
    expect((await r.engine.advance(r.spec, handle, r.ctx)).phase).toBe("READY_FOR_CUTOVER");
    const docs = await exactDocs(r.target, ORDERS);
    expect(docs.find((d) => d.kind === "double")?._id).toEqual(new Double(1));
    expect(docs.find((d) => d._id === "1")).toEqual({ _id: "1", kind: "string", touched: true });
    expectIdentical(await compare(r.source, r.target, ORDERS));
  });
});

describe("MemoryCluster's change-stream await (as mongod's awaitData getMore)", () => {
  // getmore_cmd.cpp: the wait ends at the first result or when maxTimeMS is up; a write the stream does not show
  // wakes it, finds nothing, and it waits on. Before, such a write ended the await early with an empty batch.
  test("a write the stream does not show does not end the await; one it shows ends it at once", async () => {
    const clock = manualClock();
    const cluster = new MemoryCluster({ now: clock.now, sleep: clock.sleep });
    const cursor = await cluster.watch({});
    let result: unknown[] | undefined;
    void cursor.nextBatch(1000).then((events) => (result = events));
    await settle();
    await cluster.checkpoints("some-migration").put("k", { v: 1 }); // the checkpoint database is never shown
    await settle();
    expect(result).toBeUndefined();
    clock.advance(1000);
    await settle();
    expect(result).toEqual([]);

    result = undefined;
    void cursor.nextBatch(1000).then((events) => (result = events));
    await settle();
    await cluster.db("shop").collection<AnyDoc>("orders").insertOne({ _id: 1 });
    await settle();
    expect((result ?? []).map((e) => (e as { operationType: string }).operationType)).toEqual(["create", "insert"]);
  });
});
