// Snapshot-mode reconciliation (standalone sources have no change stream): once source writes are blocked,
// walk source and target side by side in `_id` order (a merge join, so memory stays at a batch or two), re-copy
// documents whose content hash differs or that are missing, and remove the ones deleted since the copy.
// Collections created since are created; migrated collections dropped since are dropped.
import type { Document } from "mongodb";
import { BSON } from "mongodb";
import type { CollectionInfo, WriteOperation } from "../../cluster/port";
import type { RunEnv } from "./env";
import { buildSyncIndexes, createCollectionsAndViews, includedSourceCollections, toNamespace } from "./copy";
import { CARRY_AS_STORED, overwriteOp } from "./copy";
import { DocumentStream, walkById } from "./merge";
import { withRetry } from "./retry";
import { documentHash } from "./verify";

export interface ReconcileResult {
  recopied: number;
  removed: number;
  droppedCollections: number;
}

const SCAN_BATCH = 1000;

/** True when the collection has a default collation other than simple: mongod then scans string `_id`s in
 *  the locale's order, which is not the binary order the merge join compares with. */
function collated(info: CollectionInfo): boolean {
  const c = info.options.collation as { locale?: string } | undefined;
  return c !== undefined && c.locale !== undefined && c.locale !== "simple";
}

async function reconcileCollection(env: RunEnv, info: CollectionInfo): Promise<{ recopied: number; removed: number }> {
  const ns = toNamespace(info);
  let recopied = 0;
  let removed = 0;
  let pending: WriteOperation[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const ops = pending;
    pending = [];
    pendingBytes = 0;
    // Ordered: an unordered bulk runs its deletes after its updates (the driver groups by kind), so a delete
    // and an upsert of one `_id` must never share one — and ordered keeps that true even if they did.
    await withRetry("reconcile", env.ctx, () => env.target.bulkWrite(ns, ops, true, CARRY_AS_STORED));
  };
  const queue = async (op: WriteOperation, bytes: number): Promise<void> => {
    if (pending.length > 0 && pendingBytes + bytes > env.spec.builtin.batchBytes) await flush();
    pending.push(op);
    pendingBytes += bytes;
  };
  const source = new DocumentStream(env.source.scan(ns, {}, SCAN_BATCH));
  // Writes are flushed before the target scan reads on, so it never meets a document we just wrote ahead of it.
  const target = new DocumentStream(env.target.scan(ns, {}, SCAN_BATCH), flush);
  const upsert = (doc: Document) => queue(overwriteOp(doc), BSON.calculateObjectSize(doc));
  // With a collation the two scans come in an order the walk cannot compare, so "only on one side" is a guess:
  // look the document up on the other side before re-copying or deleting it. (Each document is still visited
  // once per side, so the outcome does not depend on the order.)
  const lookUp = collated(info);

  await walkById(source, target, async ({ source: s, target: t }) => {
    if (s && t) {
      if (documentHash(s) !== documentHash(t)) {
        await upsert(s); // changed since the copy
        recopied++;
      }
    } else if (s) {
      const there = lookUp ? await withRetry("findById", env.ctx, () => env.target.findById(ns, s._id)) : null;
      if (!there || documentHash(there) !== documentHash(s)) {
        await upsert(s); // appeared or changed since the copy
        recopied++;
      }
    } else if (t) {
      const stillThere = lookUp ? await withRetry("findById", env.ctx, () => env.source.findById(ns, t._id)) : null;
      if (!stillThere) {
        await queue({ deleteOne: { filter: { _id: t._id } } }, 64); // deleted since the copy
        removed++;
      }
    }
  });
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
    const r = await reconcileCollection(env, info);
    recopied += r.recopied;
    removed += r.removed;
  }
  await buildSyncIndexes(env, infos);
  env.log(`reconciled: ${recopied} documents re-copied, ${removed} removed, ${droppedCollections} collections dropped`);
  return { recopied, removed, droppedCollections };
}
