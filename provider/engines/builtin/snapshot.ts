// Snapshot-mode reconciliation (standalone sources have no change stream): once source writes are blocked,
// walk source and target side by side in `_id` order (a merge join, so memory stays at a batch or two), re-copy
// documents whose content hash differs or that are missing, and remove the ones deleted since the copy.
// Collections created since are created; migrated collections dropped since are dropped.
import type { Document } from "mongodb";
import { BSON } from "mongodb";
import { compareBson } from "../../cluster/bson-order";
import type { Namespace, WriteOperation } from "../../cluster/port";
import type { RunEnv } from "./env";
import { buildSyncIndexes, createCollectionsAndViews, includedSourceCollections, toNamespace } from "./copy";
import { withRetry } from "./retry";
import { documentHash } from "./verify";

export interface ReconcileResult {
  recopied: number;
  removed: number;
  droppedCollections: number;
}

const SCAN_BATCH = 1000;

/** Pulls documents one at a time out of a batched scan; `beforeFetch` runs before each new batch is read. */
class DocumentStream {
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

async function reconcileCollection(env: RunEnv, ns: Namespace): Promise<{ recopied: number; removed: number }> {
  let recopied = 0;
  let removed = 0;
  let pending: WriteOperation[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const ops = pending;
    pending = [];
    pendingBytes = 0;
    await withRetry("reconcile", env.ctx, () => env.target.bulkWrite(ns, ops, false));
  };
  const queue = async (op: WriteOperation, bytes: number): Promise<void> => {
    if (pending.length > 0 && pendingBytes + bytes > env.spec.builtin.batchBytes) await flush();
    pending.push(op);
    pendingBytes += bytes;
  };
  const source = new DocumentStream(env.source.scan(ns, {}, SCAN_BATCH));
  // Writes are flushed before the target scan reads on, so it never meets a document we just wrote ahead of it.
  const target = new DocumentStream(env.target.scan(ns, {}, SCAN_BATCH), flush);
  const upsert = (doc: Document) =>
    queue({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } }, BSON.calculateObjectSize(doc));

  for (;;) {
    const s = await source.peek();
    const t = await target.peek();
    if (s === undefined && t === undefined) break;
    const order = s === undefined ? 1 : t === undefined ? -1 : compareBson(s._id, t._id);
    if (order < 0) {
      await upsert(s as Document); // appeared since the copy
      recopied++;
      source.skip();
    } else if (order > 0) {
      await queue({ deleteOne: { filter: { _id: (t as Document)._id } } }, 64); // deleted since the copy
      removed++;
      target.skip();
    } else {
      if (documentHash(s as Document) !== documentHash(t as Document)) {
        await upsert(s as Document); // changed since the copy
        recopied++;
      }
      source.skip();
      target.skip();
    }
  }
  await flush();
  return { recopied, removed };
}

export async function reconcileSnapshot(env: RunEnv): Promise<ReconcileResult> {
  const infos = await includedSourceCollections(env);
  await createCollectionsAndViews(env, infos);
  const sourceNames = new Set(infos.map((c) => `${c.db}.${c.name}`));
  let droppedCollections = 0;
  for (const t of await env.target.listCollections()) {
    if (env.matcher.includes(t.db, t.name) && !sourceNames.has(`${t.db}.${t.name}`)) {
      await env.target.dropCollection(toNamespace(t));
      droppedCollections++;
    }
  }
  let recopied = 0;
  let removed = 0;
  for (const info of infos.filter((c) => c.kind === "collection")) {
    const r = await reconcileCollection(env, toNamespace(info));
    recopied += r.recopied;
    removed += r.removed;
  }
  await buildSyncIndexes(env, infos);
  env.log(`reconciled: ${recopied} documents re-copied, ${removed} removed, ${droppedCollections} collections dropped`);
  return { recopied, removed, droppedCollections };
}
