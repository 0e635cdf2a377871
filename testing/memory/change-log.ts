// MemoryCluster's change log: the in-memory stand-in for the oplog that change streams read.
//
// Every write appends one entry with a strictly increasing cluster time. Entries can be truncated from
// the front (an oplog rolling over); a stream whose start point has been truncated away fails with
// HistoryLostError, exactly when events it has not seen are gone. Resume tokens encode the entry's
// position: `{ _data: <8 hex t><8 hex i><16 hex sequence> }`.

import { Timestamp, type Binary, type Document } from "mongodb";
import { HistoryLostError } from "../../provider/errors";
import type { ChangeEvent, ResumeToken } from "../../provider/cluster/port";

export interface LogEntry {
  seq: number;
  clusterTime: Timestamp;
  wallTime: Date;
  operationType: string;
  /** Absent for endOfTransaction, which belongs to no namespace. */
  ns?: { db: string; coll?: string };
  /** The session and transaction number of a write made in a transaction (as mongod's events carry them). */
  lsid?: Document;
  txnNumber?: number;
  to?: { db: string; coll: string };
  /** Shown only with showExpandedEvents (6.0+), as mongod does (docs: change-events, operationDescription). */
  operationDescription?: Document;
  documentKey?: Document;
  /**
   * The UUID of the collection the entry is about (the oplog's `ui`); none for dropDatabase, endOfTransaction
   * and views' DDL (src/mongo/db/pipeline/change_stream_event_transform.cpp: kOpsWithoutUUID, and the view
   * definition transformation adds none).
   */
  collectionUUID?: Binary;
  /** BSON bytes of the document as written (insert, replace). */
  documentBytes?: Buffer;
  updateDescription?: { updatedFields: Document; removedFields: string[]; truncatedArrays: Document[] };
}

export type NewLogEntry = Omit<LogEntry, "seq" | "clusterTime" | "wallTime">;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

export function encodeToken(seq: number, ts: Timestamp | undefined, fragment?: number): ResumeToken {
  const t = ts ? ts.high >>> 0 : 0;
  const i = ts ? ts.low >>> 0 : 0;
  // A fragment of a split event has its own token (mongod: ResumeTokenData.fragmentNum), here 4 more hex digits.
  const tail = fragment === undefined ? "" : hex(fragment, 4);
  return { _data: `${hex(t, 8)}${hex(i, 8)}${hex(seq, 16)}${tail}` };
}

/** The entry a token points at, and the fragment of it already delivered when the event was split. */
export function decodeToken(token: ResumeToken): { seq: number; fragment?: number } {
  const data = (token as { _data?: unknown })?._data;
  if (typeof data !== "string" || !/^[0-9a-f]{32}([0-9a-f]{4})?$/.test(data)) {
    throw new HistoryLostError("the resume token was not issued by this MemoryCluster; start a new sync");
  }
  const seq = parseInt(data.slice(16, 32), 16);
  return data.length === 36 ? { seq, fragment: parseInt(data.slice(32), 16) } : { seq };
}

export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  const ah = a.high >>> 0;
  const bh = b.high >>> 0;
  if (ah !== bh) return ah < bh ? -1 : 1;
  const al = a.low >>> 0;
  const bl = b.low >>> 0;
  return al === bl ? 0 : al < bl ? -1 : 1;
}

export class ChangeLog {
  private entries: LogEntry[] = [];
  private nextSeq = 1;
  private lastTime: Timestamp;
  /** The newest entry removed by truncation, if any. */
  private truncatedThrough: { seq: number; clusterTime: Timestamp } | undefined;
  private readonly waiters = new Set<() => void>();
  /** Oldest time the history covers: the cluster's start, until truncation moves it. */
  private readonly startTime: Timestamp;
  /** getMores served on this cluster's change streams so far (the unit of majorityCommitLag). */
  private polls = 0;
  /** How many getMores a new entry stays invisible to change streams (setMajorityCommitLag). */
  private majorityLag = 0;
  /** Entry seq → the poll count from which change streams may show it (only entries written under a lag). */
  private readonly visibleFrom = new Map<number, number>();

  constructor(private readonly nowMs: () => number) {
    this.startTime = this.tick();
    this.lastTime = this.startTime;
  }

  /** A fresh, strictly increasing cluster time: seconds from the clock, increment within the second. */
  private tick(): Timestamp {
    const seconds = Math.floor(this.nowMs() / 1000);
    const last = this.lastTime;
    if (!last || seconds > last.high >>> 0) return new Timestamp({ t: seconds, i: 1 });
    return new Timestamp({ t: last.high >>> 0, i: (last.low >>> 0) + 1 });
  }

  append(entry: NewLogEntry): LogEntry {
    const clusterTime = this.tick();
    this.lastTime = clusterTime;
    const full: LogEntry = { ...entry, seq: this.nextSeq++, clusterTime, wallTime: new Date(this.nowMs()) };
    this.entries.push(full);
    if (this.majorityLag > 0) this.visibleFrom.set(full.seq, this.polls + this.majorityLag);
    for (const wake of [...this.waiters]) wake();
    return full;
  }

  /**
   * Change streams show only majority-committed writes (docs, Change Streams: "only notify on data changes that
   * have persisted to a majority of data-bearing members"; mongod reads the oplog at the majority commit point),
   * while a write acknowledged with w:1 — and any read at the default "local" concern — sees it at once. With a
   * lag of N, every entry written from now on is invisible to change streams until N further getMores have been
   * served (a secondary catching up); 0 (the default) shows each entry at once. The commit point only moves
   * forward, so a stream never shows an entry past one it cannot show yet.
   */
  setMajorityCommitLag(getMores: number): void {
    this.majorityLag = Math.max(0, Math.floor(getMores));
  }

  /** Whether change streams may show this entry yet (see setMajorityCommitLag). */
  majorityCommitted(seq: number): boolean {
    const from = this.visibleFrom.get(seq);
    if (from === undefined) return true;
    if (this.polls < from) return false;
    this.visibleFrom.delete(seq);
    return true;
  }

  /** One getMore served (called once per change-cursor batch, after it is read). */
  notePoll(): void {
    this.polls++;
  }

  /** The latest cluster time (that of the newest entry, or the start). */
  latestTime(): Timestamp {
    return this.lastTime;
  }

  latestSeq(): number {
    return this.nextSeq - 1;
  }

  /** Sequence number of the last entry strictly before `time` (0 when none). */
  seqBefore(time: Timestamp): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareTimestamps(this.entries[mid].clusterTime, time) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) return this.entries[lo - 1].seq;
    // Nothing retained before `time`: everything up to the first retained entry is before it.
    return this.entries.length > 0 ? this.entries[0].seq - 1 : this.latestSeq();
  }

  /** Throws HistoryLostError when events after `seq` (exclusive) have been truncated away. */
  assertRetainedAfter(seq: number, what: string): void {
    if (this.truncatedThrough && seq < this.truncatedThrough.seq) {
      throw new HistoryLostError(
        `${what} is older than the change history (oplog) still kept; the events since were lost — restart the sync from a fresh copy`,
      );
    }
  }

  /**
   * Throws HistoryLostError when `time` is older than the oldest time the history still covers — the
   * server's rule for startAtOperationTime (it cannot prove nothing between was lost).
   */
  assertRetainedFrom(time: Timestamp, what: string): void {
    if (compareTimestamps(time, this.window().first) < 0) {
      throw new HistoryLostError(
        `${what} is older than the change history (oplog) still kept; the events since were lost — restart the sync from a fresh copy`,
      );
    }
  }

  /** Entries with seq > `afterSeq`, at most `limit`. */
  read(afterSeq: number, limit: number): LogEntry[] {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.entries[mid].seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo, lo + limit);
  }

  /**
   * Removes entries older than `before`, all but the newest `keepLast`, or the `oldest` N (whichever removes
   * most). Returns how many were removed.
   */
  truncate(limit: { before?: Timestamp; keepLast?: number; oldest?: number }): number {
    let cut = Math.min(this.entries.length, Math.max(0, limit.oldest ?? 0));
    if (limit.before) {
      let before = 0;
      while (before < this.entries.length && compareTimestamps(this.entries[before].clusterTime, limit.before) < 0) before++;
      cut = Math.max(cut, before);
    }
    if (limit.keepLast !== undefined) cut = Math.max(cut, this.entries.length - Math.max(0, limit.keepLast));
    if (cut === 0) return 0;
    const last = this.entries[cut - 1];
    this.truncatedThrough = { seq: last.seq, clusterTime: last.clusterTime };
    this.entries = this.entries.slice(cut);
    return cut;
  }

  /** Oldest and newest times the history covers. */
  window(): { first: Timestamp; last: Timestamp } {
    const first = this.truncatedThrough
      ? (this.entries[0]?.clusterTime ?? this.lastTime)
      : this.startTime;
    return { first, last: this.lastTime };
  }

  /**
   * Resolves at the next append or after `ms` milliseconds, whichever is first; `sleep` (a virtual clock's) lets
   * the time pass instead of a real timer.
   */
  waitForAppend(ms: number, sleep?: (ms: number) => Promise<void>): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      this.waiters.add(done);
      // Not unref'd: a process awaiting a change stream (the sync worker, a plain script) must stay alive
      // until the wait ends, as it would while awaiting a real server's getMore.
      if (sleep) void sleep(ms).then(done, done);
      else timer = setTimeout(done, ms);
    });
  }
}

/**
 * A change event as the driver delivers it, built from a log entry, fields in mongod's order (docs:
 * change-events; fullDocument comes before ns). `omitUpdateDescription` is `$project: { updateDescription: 0 }`.
 */
export function toChangeEvent(
  entry: LogEntry,
  fullDocument: Document | null | undefined,
  omitUpdateDescription = false,
  expanded = true,
): ChangeEvent {
  const event: ChangeEvent = {
    _id: encodeToken(entry.seq, entry.clusterTime),
    operationType: entry.operationType,
    clusterTime: entry.clusterTime,
  };
  // collectionUUID only with showExpandedEvents (6.0+), right after clusterTime (change_stream_event_transform.cpp;
  // docs: change-events "collectionUUID", New in 6.0).
  if (expanded && entry.collectionUUID) event.collectionUUID = entry.collectionUUID;
  // wallTime from 6.0 on, with or without expanded events (SERVER-65022, backported to 6.0; the change-streams
  // spec's unified test "Test wallTime field is set in a change event" runs on minServerVersion 6.0.0).
  if (expanded) event.wallTime = entry.wallTime;
  if (fullDocument !== undefined) event.fullDocument = fullDocument;
  if (entry.ns) event.ns = { ...entry.ns };
  if (entry.lsid) Object.assign(event, { lsid: entry.lsid, txnNumber: entry.txnNumber });
  if (entry.to) event.to = { ...entry.to };
  if (entry.operationDescription && expanded) event.operationDescription = entry.operationDescription;
  if (entry.documentKey) event.documentKey = entry.documentKey;
  if (entry.updateDescription && !omitUpdateDescription) event.updateDescription = entry.updateDescription;
  return event;
}
