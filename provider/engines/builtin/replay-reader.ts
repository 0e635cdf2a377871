// Replay's read side: the next change-stream batches are read while the previous ones are applied.
//
// One loop issues getMores back to back and queues what they return, each batch with the resume token that
// covers it (taken right after it was read: the cursor's own token moves on with every read, so the applier must
// never checkpoint the cursor's current token — that would cover events read ahead but not yet applied). At most
// `ahead` batches wait in the queue; the loop issues no read while it is full, so what replay holds is bounded
// (each batch ≤ 16 MiB of events, the server's reply limit). An empty batch is queued too: it carries the
// stream's newer postBatchResumeToken and tells the applier the stream is idle. A read error is delivered after
// the batches read before it.
import type { ChangeCursor, ChangeEvent, ResumeToken } from "../../cluster/port";

export interface ReadBatch {
  events: ChangeEvent[];
  /** The token to resume after this batch (and everything before it). */
  token: ResumeToken | undefined;
  /** When the read returned, on the engine's clock. */
  readAt: number;
}

export class ChangeReader {
  private readonly queue: ReadBatch[] = [];
  private failure: { error: unknown } | undefined;
  private wakeTaker: (() => void) | undefined;
  private wakeReader: (() => void) | undefined;
  private stopped = false;
  /** Resolves when the read loop has ended (stopped or failed). */
  readonly done: Promise<void>;

  /**
   * `firstWaitMs`: how long the first read awaits events (0: report at once whether anything is there);
   * `waitMs` every later one (the change stream's own await, maxAwaitTimeMS).
   */
  constructor(
    private readonly read: (waitMs: number) => Promise<ChangeEvent[]>,
    private readonly cursor: ChangeCursor,
    private readonly now: () => number,
    firstWaitMs: number,
    private readonly waitMs: number,
    private readonly ahead = 2,
  ) {
    this.done = this.loop(firstWaitMs);
  }

  private async loop(firstWaitMs: number): Promise<void> {
    let wait = firstWaitMs;
    try {
      while (!this.stopped) {
        while (this.queue.length >= this.ahead && !this.stopped) await new Promise<void>((r) => (this.wakeReader = r));
        if (this.stopped) return;
        const events = await this.read(wait);
        wait = this.waitMs;
        if (this.stopped) return;
        this.queue.push({ events, token: this.cursor.resumeToken(), readAt: this.now() });
        this.wake();
      }
    } catch (error) {
      if (!this.stopped) this.failure = { error };
      this.wake();
    }
  }

  private wake(): void {
    const w = this.wakeTaker;
    this.wakeTaker = undefined;
    w?.();
  }

  /** Every batch read so far (at least one), oldest first; throws the read error once they are all taken. */
  async take(): Promise<ReadBatch[]> {
    while (this.queue.length === 0 && !this.failure) await new Promise<void>((r) => (this.wakeTaker = r));
    if (this.queue.length === 0) throw this.failure!.error;
    const batches = this.queue.splice(0);
    const w = this.wakeReader;
    this.wakeReader = undefined;
    w?.();
    return batches;
  }

  /** Stops reading; a read in flight is abandoned (its events were never applied, so nothing is lost). */
  stop(): void {
    this.stopped = true;
    const w = this.wakeReader;
    this.wakeReader = undefined;
    w?.();
  }
}
