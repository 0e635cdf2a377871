// How hard the copy drives the link: the size of each write, how many writes are in flight, how far a reader
// reads ahead. Decided from the round trip the copy measured (its first source calls, on the engine's clock)
// and from back-pressure it observes, always under the one process-wide byte budget (copy.ts ByteBudget).
//
// A fast link (a round trip under RTT_BOUND_MS: same host or zone) is bound by the client's CPU, not the
// network: deep pipelines only keep more decoded documents alive (each one a young-generation survivor the
// garbage collector copies and promotes), so a partition keeps FAST_WINDOW writes in flight while it reads the
// next batch. What costs there is the count of documents alive (objects), and per write a checkpoint and a
// lease check: so a write holds about FAST_WRITE_DOCS documents (at least FAST_WRITE_BYTES), as many bytes as
// large documents need, up to the budget spread over every partition's writes and read-ahead.
//
// A slow link is bound by round trips and by each connection's throughput: what one connection moves is
// about writeBytes / (RTT + writeBytes / bandwidth), so throughput comes from many writes in flight, on
// many pooled connections (mongorestore keeps 4 insert streams per collection busy; MongoShake runs up to 48
// writers). A partition starts with SLOW_WINDOW writes in flight and adds one each time its reader finds every
// one of them still in flight (the writes, not the reads, are behind) — up to SLOW_WINDOW_MAX per partition
// and MAX_WRITERS in the whole process, which stays well under the driver's default pool of 100 connections
// (lib/connection_string.js maxPoolSize) so checkpoints and reads still find one. Writes are the budget spread
// over every writer and every reader's read-ahead, so the budget, not the window, is what binds; a reader
// reads SLOW_SCAN_WRITES writes' worth per round trip, so one reader can feed several writers. Partitions are
// read SLOW_READERS_PER_SLOT × parallelCollections at once there (parallelCollections on a fast link): a collection
// split for the link takes those slots, and a small collection that waited for them would add its own few round
// trips in series after the large one's copy instead of overlapping it; the writer cap and the budget still bound
// what is in flight.

/** A source round trip at or above this (ms, on the engine's clock) makes the copy RTT-bound. */
export const RTT_BOUND_MS = 2;

/** Writes smaller than this cost a round trip for too little; a small budget then allows fewer in flight instead. */
export const MIN_WRITE_BYTES = 64 * 1024;
/** One write on a fast link: a few hundred documents (as a driver's insertMany batch holds), at least 128 KiB. */
export const FAST_WRITE_DOCS = 400;
export const FAST_WRITE_BYTES = 128 * 1024;
/** Writes a partition keeps in flight on a fast link while its reader reads the next batch. */
export const FAST_WINDOW = 2;

/** Writes a partition starts with in flight over a slow link, and the most it grows to. */
export const SLOW_WINDOW = 4;
export const SLOW_WINDOW_MAX = 16;
/** Copy writes in flight in the whole process over a slow link (on a fast link: partitions × FAST_WINDOW). */
export const MAX_WRITERS = 32;
/** Writes' worth of documents one read brings over a slow link. */
export const SLOW_SCAN_WRITES = 2;
/** Partitions read at once over a slow link, per parallelCollections. */
export const SLOW_READERS_PER_SLOT = 2;

export interface Pace {
  rttBound: boolean;
  /** Target size of one write, bytes (a larger single document goes alone). */
  writeBytes: number;
  /** Target size of one scan batch, bytes. */
  scanBytes: number;
  /** Partitions copied at once. */
  readers: number;
  /** Writes a partition starts with in flight, and the most it may grow to. */
  window: number;
  windowMax: number;
  writers: WriterSlots;
  /** Write and scan-batch sizes for a collection whose documents average `avgDocBytes`. */
  sized(avgDocBytes: number): { writeBytes: number; scanBytes: number };
}

/** The pace of a copy with this budget and parallelism, on a link that is (or is not) RTT-bound. */
export function paceFor(budget: number, parallel: number, rttBound: boolean): Pace {
  const floor = Math.min(Math.floor(budget / 4), MIN_WRITE_BYTES);
  if (!rttBound) {
    // Every partition's writes in flight and the batch its reader holds fit the budget.
    const most = Math.max(1, floor, Math.floor(budget / (parallel * (FAST_WINDOW + 1))));
    const sized = (avgDocBytes: number) => {
      const writeBytes = Math.min(most, Math.max(FAST_WRITE_BYTES, Math.ceil(avgDocBytes * FAST_WRITE_DOCS)));
      return { writeBytes, scanBytes: writeBytes };
    };
    const { writeBytes, scanBytes } = sized(0);
    return {
      rttBound,
      writeBytes,
      scanBytes,
      readers: parallel,
      window: FAST_WINDOW,
      windowMax: FAST_WINDOW,
      writers: new WriterSlots(parallel * FAST_WINDOW),
      sized,
    };
  }
  const writeBytes = Math.max(1, floor, Math.floor(budget / (MAX_WRITERS + parallel * SLOW_SCAN_WRITES)));
  const scanBytes = writeBytes * SLOW_SCAN_WRITES;
  return {
    rttBound,
    writeBytes,
    scanBytes,
    readers: parallel * SLOW_READERS_PER_SLOT,
    window: SLOW_WINDOW,
    windowMax: SLOW_WINDOW_MAX,
    writers: new WriterSlots(MAX_WRITERS),
    sized: () => ({ writeBytes, scanBytes }),
  };
}

/** The process-wide count of copy writes in flight, with a cap; `peak` is the most there were at once. */
export class WriterSlots {
  inFlight = 0;
  peak = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly cap: number) {}

  /** True when another write may start now. */
  available(): boolean {
    return this.inFlight < this.cap;
  }

  async acquire(): Promise<void> {
    while (this.inFlight >= this.cap) await new Promise<void>((r) => this.waiters.push(r));
    this.inFlight++;
    if (this.inFlight > this.peak) this.peak = this.inFlight;
  }

  release(): void {
    this.inFlight--;
    this.waiters.shift()?.();
  }
}
