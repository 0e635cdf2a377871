// Walking two collections side by side in `_id` order (a merge join): both ports scan in BSON `_id` order, so
// one pass pairs every source document with its target counterpart using a batch of memory per side.
import type { Document } from "mongodb";
import { compareBson } from "../../cluster/bson-order";

/** Pulls documents one at a time out of a batched scan; `beforeFetch` runs before each new batch is read. */
export class DocumentStream {
  private batch: Document[] = [];
  private at = 0;
  private done = false;
  private readonly it: AsyncIterator<Document[]>;

  constructor(
    source: AsyncIterable<Document[]>,
    private readonly beforeFetch: () => Promise<void> = async () => undefined,
  ) {
    this.it = source[Symbol.asyncIterator]();
  }

  async peek(): Promise<Document | undefined> {
    while (!this.done && this.at >= this.batch.length) {
      await this.beforeFetch();
      const next = await this.it.next();
      if (next.done) this.done = true;
      else {
        this.batch = next.value;
        this.at = 0;
      }
    }
    return this.done ? undefined : this.batch[this.at];
  }

  skip(): void {
    this.at++;
  }
}

/** A pair from the walk: only on the source, only on the target, or on both (same `_id`). */
export type Pair = { source: Document; target?: undefined } | { source?: undefined; target: Document } | { source: Document; target: Document };

/** Calls `visit` for every `_id` on either side, in `_id` order; `visit` returns false to stop early. */
export async function walkById(
  source: DocumentStream,
  target: DocumentStream,
  visit: (pair: Pair) => Promise<boolean | void> | boolean | void,
): Promise<void> {
  for (;;) {
    const s = await source.peek();
    const t = await target.peek();
    if (s === undefined && t === undefined) return;
    const order = s === undefined ? 1 : t === undefined ? -1 : compareBson(s._id, t._id);
    let keepGoing: boolean | void;
    if (order < 0) {
      source.skip();
      keepGoing = await visit({ source: s as Document });
    } else if (order > 0) {
      target.skip();
      keepGoing = await visit({ target: t as Document });
    } else {
      source.skip();
      target.skip();
      keepGoing = await visit({ source: s as Document, target: t as Document });
    }
    if (keepGoing === false) return;
  }
}
