// Snapshot-mode reconciliation (standalone sources have no change stream): once source writes are blocked,
// walk source and target side by side in `_id` order (a merge join, so memory stays at a batch or two), re-copy
// documents whose content hash differs or that are missing, and remove the ones deleted since the copy.
// Collections created since are created; migrated collections dropped since are dropped.
import type { Document } from "mongodb";
import { BSON } from "mongodb";
import type { Namespace, WriteOperation } from "../../cluster/port";
import type { RunEnv } from "./env";
import { buildSyncIndexes, createCollectionsAndViews, includedSourceCollections, toNamespace } from "./copy";
import { CARRY_AS_STORED } from "./copy";
import { DocumentStream, walkById } from "./merge";
import { withRetry } from "./retry";
import { documentHash } from "./verify";

export interface ReconcileResult {
  recopied: number;
  removed: number;
  droppedCollections: number;
}

const SCAN_BATCH = 1000;

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
    await withRetry("reconcile", env.ctx, () => env.target.bulkWrite(ns, ops, false, CARRY_AS_STORED));
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

  await walkById(source, target, async ({ source: s, target: t }) => {
    if (s && (!t || documentHash(s) !== documentHash(t))) {
      await upsert(s); // appeared or changed since the copy
      recopied++;
    } else if (!s && t) {
      await queue({ deleteOne: { filter: { _id: t._id } } }, 64); // deleted since the copy
      removed++;
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
    const r = await reconcileCollection(env, toNamespace(info));
    recopied += r.recopied;
    removed += r.removed;
  }
  await buildSyncIndexes(env, infos);
  env.log(`reconciled: ${recopied} documents re-copied, ${removed} removed, ${droppedCollections} collections dropped`);
  return { recopied, removed, droppedCollections };
}
