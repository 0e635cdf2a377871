// ChangeStreamPort: gives a CodecPort (bench/ports/codec-port.ts, whose data writes never reach its metadata
// cluster's change log) a change stream over those writes, at the driver's client-side cost and no more — the
// replay bench's "infinitely fast server".
//
//   bulkWrite  after the inner write, one event per operation (replaceOne/updateOne → "replace" with the image as
//              fullDocument, insertOne → "insert", deleteOne → "delete"), serialized once to BSON as the server
//              would put it in a getMore reply (server-side work: charged to the process, as the writer is)
//   nextBatch  decodes each event with EXACT_BSON, as the driver decodes a getMore reply; at most 1000 events
//              or 16 MiB per batch. An empty getMore awaits the next write up to maxWaitMs and returns at the
//              first event (mongod getmore_cmd.cpp: "As soon as we get a result, this operation no longer waits")
//   clusterTime / watch  the log's own times: {t: seconds, i: counter}, resume tokens {_data: <seq hex>},
//              startAtOperationTime inclusive, resumeAfter exclusive.
// Nothing else changes: metadata, checkpoints and every other call go to the inner port.
import { BSON, Timestamp, type Document } from "mongodb";
import { EXACT_BSON } from "../../provider/cluster/bson-order";
import { CHECKPOINT_DATABASE } from "../../provider/cluster/port";
import type { BulkWriteOptions, BulkWriteOutcome, ChangeCursor, ChangeEvent, ChangeStreamStart, ClusterPort, Namespace, WriteOperation } from "../../provider/cluster/port";

const MAX_EVENTS = 1000;
const MAX_BATCH_BYTES = 16 * 1024 * 1024;

interface Entry {
  seq: number;
  clusterTime: Timestamp;
  bytes: Uint8Array;
}

class EventLog {
  readonly entries: Entry[] = [];
  private last = new Timestamp({ t: Math.floor(Date.now() / 1000), i: 0 });
  private waiters = new Set<() => void>();

  now(): Timestamp {
    return this.last;
  }

  private tick(): Timestamp {
    const t = Math.floor(Date.now() / 1000);
    const lastT = this.last.high >>> 0;
    this.last = t > lastT ? new Timestamp({ t, i: 1 }) : new Timestamp({ t: lastT, i: (this.last.low >>> 0) + 1 });
    return this.last;
  }

  append(ns: Namespace, op: WriteOperation): void {
    const clusterTime = this.tick();
    const seq = this.entries.length + 1;
    const _id = { _data: seq.toString(16).padStart(16, "0") };
    const nsDoc = { db: ns.db, coll: ns.coll };
    let event: Document;
    if ("deleteOne" in op) {
      event = { _id, operationType: "delete", clusterTime, wallTime: new Date(), ns: nsDoc, documentKey: { _id: op.deleteOne.filter._id } };
    } else {
      const doc =
        "insertOne" in op
          ? op.insertOne.document
          : "replaceOne" in op
            ? op.replaceOne.replacement
            : (op.updateOne.update[0] as { $replaceWith: { $literal: Document } }).$replaceWith.$literal;
      const id = "insertOne" in op ? doc._id : "replaceOne" in op ? op.replaceOne.filter._id : op.updateOne.filter._id;
      const full = doc._id === undefined ? { _id: id, ...doc } : doc;
      event = {
        _id,
        operationType: "insertOne" in op ? "insert" : "replace",
        clusterTime,
        wallTime: new Date(),
        fullDocument: full,
        ns: nsDoc,
        documentKey: { _id: id },
      };
    }
    this.entries.push({ seq, clusterTime, bytes: BSON.serialize(event, { checkKeys: false, ignoreUndefined: false }) });
    for (const wake of [...this.waiters]) wake();
  }

  /**
   * Events serialized elsewhere (bench/replay-writer.ts: the application and the server's event serialization in
   * a thread of their own), appended as they are: `bytes` holds them back to back, `ends[k]` is where event k
   * ends, `times` its clusterTime as (t, i) pairs. Sequence numbers (their resume tokens) must follow this log's.
   */
  appendEncoded(bytes: Uint8Array, ends: Int32Array, times: Uint32Array): void {
    let from = 0;
    for (let k = 0; k < ends.length; k++) {
      const clusterTime = new Timestamp({ t: times[2 * k], i: times[2 * k + 1] });
      this.entries.push({ seq: this.entries.length + 1, clusterTime, bytes: bytes.subarray(from, ends[k]) });
      this.last = clusterTime;
      from = ends[k];
    }
    for (const wake of [...this.waiters]) wake();
  }

  /** Index of the first entry at or after `time`. */
  firstAtOrAfter(time: Timestamp): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid].clusterTime.compare(time) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  waitForAppend(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

class LogCursor implements ChangeCursor {
  private closed = false;

  constructor(
    private readonly log: EventLog,
    /** Index of the next entry to deliver. */
    private next: number,
  ) {}

  private read(): ChangeEvent[] {
    const out: ChangeEvent[] = [];
    let bytes = 0;
    while (this.next < this.log.entries.length && out.length < MAX_EVENTS) {
      const e = this.log.entries[this.next];
      if (out.length > 0 && bytes + e.bytes.length > MAX_BATCH_BYTES) break;
      out.push(BSON.deserialize(e.bytes, EXACT_BSON) as unknown as ChangeEvent);
      bytes += e.bytes.length;
      this.next++;
    }
    return out;
  }

  async nextBatch(maxWaitMs: number): Promise<ChangeEvent[]> {
    if (this.closed) throw Object.assign(new Error("change stream cursor is closed"), { code: 43 });
    let events = this.read();
    const deadline = Date.now() + Math.max(0, maxWaitMs);
    while (events.length === 0 && !this.closed && Date.now() < deadline) {
      await this.log.waitForAppend(deadline - Date.now());
      events = this.read();
    }
    return events;
  }

  resumeToken() {
    return { _data: this.next.toString(16).padStart(16, "0") };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A port with a change stream, and its log (for writers that append serialized events directly). */
export interface ChangeStreamPort extends ClusterPort {
  readonly eventLog: EventLog;
}

export type { EventLog };

export function withChangeStream(inner: ClusterPort): ChangeStreamPort {
  const log = new EventLog();
  const overrides: Partial<ChangeStreamPort> = {
    eventLog: log,
    description: `${inner.description} (+change stream)`,
    async bulkWrite(ns: Namespace, ops: WriteOperation[], ordered: boolean, o?: BulkWriteOptions): Promise<BulkWriteOutcome> {
      const outcome = await inner.bulkWrite(ns, ops, ordered, o);
      if (ns.db !== CHECKPOINT_DATABASE) for (const op of ops) log.append(ns, op);
      return outcome;
    },
    async clusterTime() {
      return log.now();
    },
    async watch(start: ChangeStreamStart): Promise<ChangeCursor> {
      if (start.resumeAfter) return new LogCursor(log, Number.parseInt(String((start.resumeAfter as { _data: string })._data), 16));
      return new LogCursor(log, start.startAtOperationTime ? log.firstAtOrAfter(start.startAtOperationTime) : log.entries.length);
    },
  };
  return new Proxy(overrides as ChangeStreamPort, {
    get(target, prop) {
      if (prop in target) return (target as unknown as Record<string | symbol, unknown>)[prop];
      const value = (inner as unknown as Record<string | symbol, unknown>)[prop];
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(inner) : value;
    },
  });
}
