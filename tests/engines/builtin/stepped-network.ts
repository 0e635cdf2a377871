// A network a test steps, one round trip at a time: the count of steps an outcome takes is its count of serial
// round trips, whatever the machine's speed (nothing is timed).
import type { ChangeCursor, CheckpointStore, ClusterPort, WriteOperation } from "../../../provider/cluster/port";
import { bsonKey } from "../../../provider/cluster/bson-order";
import { makeRunEnv } from "../../../provider/engines/builtin/env";
import { newOwnerId, StateSession } from "../../../provider/engines/builtin/state";
import type { Rig } from "./helpers";

/** Lets every callback and promise that can run without the clock or the network run (a fixed number of turns). */
export async function settle(turns = 8): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/**
 * A network the test steps: while `held`, every call to a wrapped port (cluster calls, checkpoint reads and
 * writes, change-stream getMores) waits for the next `step()`, which lets all waiting calls through at once. The
 * number of steps an outcome takes is its count of serial round trips.
 */
export class SteppedNetwork {
  held = false;
  /** Steps a bulk write takes (2: a write costs more than a checkpoint read, as its bytes do on a real link). */
  constructor(
    readonly writeSteps = 1,
    /** The database whose writes are tracked for overtakes. */
    readonly trackedDb = "shop",
    /** Steps other calls take, by method name (default 1): a slow createCollection, say. */
    readonly callSteps: Record<string, number> = {},
  ) {}
  private waiting: Array<() => void> = [];
  /** bsonKey of every `_id` in a bulk write sent and not yet acknowledged; a second one for a key is an overtake. */
  private readonly inFlight = new Map<string, number>();
  overtakes = 0;
  nonEmptyBatches = 0;

  /** What waited at each step, by call name ("get state", "bulkWrite shop.orders"): for a failing count's message. */
  readonly trace: string[][] = [];
  private names: string[] = [];

  gate(name = "call"): Promise<void> {
    if (!this.held) return Promise.resolve();
    this.names.push(name);
    return new Promise((r) => this.waiting.push(r));
  }

  pending(): number {
    return this.waiting.length;
  }

  step(): void {
    const w = this.waiting;
    this.waiting = [];
    this.trace.push(this.names);
    this.names = [];
    for (const release of w) release();
  }

  release(): void {
    this.held = false;
    this.step();
  }

  private track(ops: WriteOperation[]): string[] {
    const keys = ops.map((op) => {
      const id = "replaceOne" in op ? op.replaceOne.filter._id : "deleteOne" in op ? op.deleteOne.filter._id : "updateOne" in op ? op.updateOne.filter._id : op.insertOne.document._id;
      return bsonKey(id);
    });
    for (const k of keys) {
      if (this.inFlight.has(k)) this.overtakes++;
      this.inFlight.set(k, (this.inFlight.get(k) ?? 0) + 1);
    }
    return keys;
  }

  private untrack(keys: string[]): void {
    for (const k of keys) {
      const n = (this.inFlight.get(k) ?? 1) - 1;
      if (n === 0) this.inFlight.delete(k);
      else this.inFlight.set(k, n);
    }
  }

  wrap(inner: ClusterPort): ClusterPort {
    const net = this;
    const store = (s: CheckpointStore): CheckpointStore => ({
      get: async (key) => (await net.gate(`get ${key}`), s.get(key)),
      put: async (key, value) => (await net.gate(`put ${key}`), s.put(key, value)),
      compareAndSet: async (key, v, value) => (await net.gate(`compareAndSet ${key}`), s.compareAndSet(key, v, value)),
      clear: async () => (await net.gate("clear"), s.clear()),
    });
    const cursor = (c: ChangeCursor): ChangeCursor => ({
      nextBatch: async (ms) => {
        await net.gate();
        const events = await c.nextBatch(ms);
        if (events.length > 0) net.nonEmptyBatches++;
        return events;
      },
      resumeToken: () => c.resumeToken(),
      close: () => c.close(),
    });
    const overrides: Partial<ClusterPort> = {
      description: inner.description,
      checkpoints: (id) => store(inner.checkpoints(id)),
      watch: async (start) => (await net.gate(), cursor(await inner.watch(start))),
      // Each batch is a round trip, but the call after a batch the port marked last (ScanBatch.last): the port
      // answers that one without asking, as MongoClusterPort does after a short bounded find.
      scan: (ns, range, batchSize) => ({
        [Symbol.asyncIterator]: () => {
          const it = inner.scan(ns, range, batchSize)[Symbol.asyncIterator]();
          let ended = false;
          return {
            next: async () => {
              if (!ended) await net.gate(`scan ${ns.db}.${ns.coll}`);
              const r = await it.next();
              ended = !r.done && r.value.last === true;
              return r;
            },
            return: async () => (it.return ? it.return() : { done: true, value: undefined }),
          };
        },
      }),
      bulkWrite: async (ns, ops, ordered, options) => {
        const keys = ns.db === net.trackedDb ? net.track(ops) : [];
        try {
          for (let i = 0; i < net.writeSteps; i++) await net.gate(`bulkWrite ${ns.db}.${ns.coll}`);
          return await inner.bulkWrite(ns, ops, ordered, options);
        } finally {
          net.untrack(keys);
        }
      },
      close: () => inner.close(),
    };
    return new Proxy(overrides as ClusterPort, {
      get(target, prop) {
        if (prop in target) return (target as unknown as Record<string | symbol, unknown>)[prop];
        const value = (inner as unknown as Record<string | symbol, unknown>)[prop];
        if (typeof value !== "function") return value;
        return async (...args: unknown[]) => {
          const on = args[0] as { db?: string; coll?: string; name?: string } | undefined;
          for (let i = 0; i < (net.callSteps[String(prop)] ?? 1); i++) await net.gate(on?.db ? `${String(prop)} ${on.db}.${on.coll ?? on.name}` : String(prop));
          return (value as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
        };
      },
    });
  }
}

/** Steps the network until `done()` holds; returns how many steps it took. */
export async function stepUntil(net: SteppedNetwork, done: () => boolean, limit = 2000): Promise<number> {
  let steps = 0;
  for (;;) {
    await settle();
    if (done()) return steps;
    if (steps >= limit) throw new Error(`not done after ${limit} round trips (${net.pending()} calls waiting)`);
    net.step();
    steps++;
  }
}


/** A run environment (both ports over `net`, the lease taken) for driving runCopy or runReplay a step at a time. */
export async function steppedEnv(r: Rig, net: SteppedNetwork) {
  const source = net.wrap(r.source.connect());
  const target = net.wrap(r.target.connect());
  const session = new StateSession(target.checkpoints(r.spec.migrationId), newOwnerId("stepped"), r.ctx.now);
  await session.load();
  if (!(await session.acquire())) throw new Error("stepped run: could not take the lease");
  const env = makeRunEnv({ spec: r.spec, source, target, session, ctx: r.ctx }, { log: () => undefined });
  return { env, session };
}
