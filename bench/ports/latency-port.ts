// LatencyPort: wraps any ClusterPort in the shape of a real network to Atlas — every call costs one round
// trip (`rttMs`), and a bulk write also costs its bytes at a per-connection throughput (`writeBytesPerSecond`).
//
// Per connection, as the driver works: each operation in flight holds its own pooled connection, so concurrent
// calls overlap their round trips and each is paced at the cap, while one stream of calls is paced at
// RTT + bytes/cap per call. A port is one MongoClient: at most `maxPoolSize` operations hold a connection at
// once (driver default 100: node_modules/mongodb lib/connection_string.js OPTIONS.maxPoolSize), the rest wait
// for one, as a checkout from the driver's pool waits. A scan costs one round trip per batch (a getMore), a
// change-stream poll one per call, checkpoint reads/writes one each.
//
// The wrapper itself is cheap (timers only) and identical for the engine and the bare loop it is compared with.
import type { Document } from "mongodb";
import { BSON } from "mongodb";
import type {
  BulkWriteOptions,
  BulkWriteOutcome,
  ChangeCursor,
  ChangeStreamStart,
  CheckpointStore,
  ClusterPort,
  IdRange,
  Namespace,
  ScanBatch,
  WriteOperation,
} from "../../provider/cluster/port";

export interface LatencyOptions {
  rttMs: number;
  /** Bytes per second one connection carries for writes. */
  writeBytesPerSecond: number;
  /** Connections of this client's pool (driver default 100). */
  maxPoolSize?: number;
}

/** The driver's default maxPoolSize (lib/connection_string.js). */
export const DRIVER_MAX_POOL_SIZE = 100;

/** A client's connection pool: at most `size` operations hold a connection; `peak` is the most that did. */
class Pool {
  private busy = 0;
  peak = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  async hold<T>(body: () => Promise<T>): Promise<T> {
    while (this.busy >= this.size) await new Promise<void>((r) => this.waiting.push(r));
    this.busy++;
    if (this.busy > this.peak) this.peak = this.busy;
    try {
      return await body();
    } finally {
      this.busy--;
      this.waiting.shift()?.();
    }
  }
}

const delay = (ms: number) => (ms > 0 ? new Promise<void>((r) => setTimeout(r, ms)) : Promise.resolve());

/** Wire bytes of a bulk write: CodecPort reports them (no second walk here); other ports are estimated once. */
function wireBytes(ops: WriteOperation[], outcome: BulkWriteOutcome): number {
  const reported = (outcome as { wireBytes?: number }).wireBytes;
  if (reported !== undefined) return reported;
  let n = 0;
  for (const op of ops) n += BSON.calculateObjectSize(op as Document);
  return n;
}

export function withLatency(inner: ClusterPort, options: LatencyOptions): ClusterPort & { connectionsPeak(): number } {
  const { rttMs } = options;
  const pool = new Pool(options.maxPoolSize ?? DRIVER_MAX_POOL_SIZE);
  const trip = <T>(body: () => Promise<T>): Promise<T> => pool.hold(() => delay(rttMs).then(body));

  const overrides: Partial<ClusterPort> = {
    description: `${inner.description} (+${rttMs} ms RTT, ${Math.round(options.writeBytesPerSecond / 1e6)} MB/s per connection)`,
    scan(ns: Namespace, range: IdRange, batchSize: number): AsyncIterable<Document[]> {
      return {
        [Symbol.asyncIterator]: () => {
          const it = inner.scan(ns, range, batchSize)[Symbol.asyncIterator]();
          // After a batch the port marked last, its next call answers done without asking the server.
          let ended = false;
          return {
            next: async () => {
              if (ended) return it.next();
              const r = await trip(() => it.next());
              ended = !r.done && (r.value as ScanBatch).last === true;
              return r;
            },
            return: async () => (it.return ? it.return() : { done: true, value: undefined }),
          };
        },
      };
    },
    bulkWrite(ns: Namespace, ops: WriteOperation[], ordered: boolean, o?: BulkWriteOptions): Promise<BulkWriteOutcome> {
      return pool.hold(async () => {
        const outcome = await inner.bulkWrite(ns, ops, ordered, o);
        await delay(rttMs + (1000 * wireBytes(ops, outcome)) / options.writeBytesPerSecond);
        return outcome;
      });
    },
    async watch(start: ChangeStreamStart): Promise<ChangeCursor> {
      const cursor = await trip(() => inner.watch(start));
      // A getMore: half a round trip to the server, its await there (it answers at the first event or when
      // maxAwaitTimeMS is up), half a round trip back — so a write made while the request travels is seen.
      const half = rttMs / 2;
      return {
        nextBatch: async (maxWaitMs) => {
          await delay(half);
          const events = await cursor.nextBatch(maxWaitMs);
          await delay(half);
          return events;
        },
        resumeToken: () => cursor.resumeToken(),
        close: () => cursor.close(),
      };
    },
    checkpoints(migrationId: string): CheckpointStore {
      const store = inner.checkpoints(migrationId);
      return {
        get: (key) => trip(() => store.get(key)),
        put: (key, value) => trip(() => store.put(key, value)),
        compareAndSet: (key, v, value) => trip(() => store.compareAndSet(key, v, value)),
        clear: () => trip(() => store.clear()),
      };
    },
    close: () => inner.close(),
    connectionsPeak: () => pool.peak,
  } as Partial<ClusterPort> & { connectionsPeak(): number };

  return new Proxy(overrides as ClusterPort & { connectionsPeak(): number }, {
    get(target, prop) {
      if (prop in target) return (target as unknown as Record<string | symbol, unknown>)[prop];
      const value = (inner as unknown as Record<string | symbol, unknown>)[prop];
      // Every other call is one round trip.
      return typeof value === "function" ? (...args: unknown[]) => trip(() => (value as (...a: unknown[]) => Promise<unknown>).apply(inner, args)) : value;
    },
  });
}
