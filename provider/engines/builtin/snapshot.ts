// Snapshot-mode reconciliation (standalone sources have no change stream): once source writes are blocked,
// compare every document by `_id` and content hash, re-copy the ones that changed or appeared, and remove the
// ones deleted since the copy. Collections created since are created; migrated collections dropped since are
// dropped. Memory: one `_id` + hash per target document of the collection being reconciled.
import type { Document } from "mongodb";
import { BSON } from "mongodb";
const { EJSON } = BSON;
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

function idText(id: unknown): string {
  return EJSON.stringify({ id }, { relaxed: false });
}

async function reconcileCollection(env: RunEnv, ns: Namespace): Promise<{ recopied: number; removed: number }> {
  const onTarget = new Map<string, { id: unknown; hash: string }>();
  for await (const batch of env.target.scan(ns, {}, 1000)) {
    for (const doc of batch) onTarget.set(idText(doc._id), { id: doc._id, hash: documentHash(doc) });
  }
  let recopied = 0;
  let pending: WriteOperation[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const ops = pending;
    pending = [];
    pendingBytes = 0;
    await withRetry("reconcile", env.ctx, () => env.target.bulkWrite(ns, ops, false));
  };
  for await (const batch of env.source.scan(ns, {}, 1000)) {
    for (const doc of batch as Document[]) {
      const key = idText(doc._id);
      const seen = onTarget.get(key);
      onTarget.delete(key);
      if (seen && seen.hash === documentHash(doc)) continue;
      const size = BSON.calculateObjectSize(doc);
      if (pending.length > 0 && pendingBytes + size > env.spec.builtin.batchBytes) await flush();
      pending.push({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } });
      pendingBytes += size;
      recopied++;
    }
  }
  for (const { id } of onTarget.values()) {
    pending.push({ deleteOne: { filter: { _id: id } } });
    if (pending.length >= 1000) await flush();
  }
  await flush();
  return { recopied, removed: onTarget.size };
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
